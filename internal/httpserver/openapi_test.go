package httpserver_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"gopkg.in/yaml.v3"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/httpserver"
	"github.com/keyward/keyward/internal/keys"
)

// specDoc is the part of an OpenAPI document the route test reads.
type specDoc struct {
	OpenAPI string                          `yaml:"openapi"`
	Paths   map[string]map[string]yaml.Node `yaml:"paths"`
}

// specOperation is the part of an operation the route test reads.
type specOperation struct {
	OperationID string               `yaml:"operationId"`
	Parameters  []specParameter      `yaml:"parameters"`
	Responses   map[string]yaml.Node `yaml:"responses"`
}

type specParameter struct {
	Ref  string `yaml:"$ref"`
	Name string `yaml:"name"`
	In   string `yaml:"in"`
}

// specMethods are the path-item fields of OpenAPI 3.1 that are operations.
var specMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// specRoute is one method on one path, as "GET /healthz".
func specRoute(method, path string) string { return strings.ToUpper(method) + " " + path }

// specRouterRoutes walks keyward's real router and returns every route it
// serves. Building the router touches none of its dependencies, so no
// database is needed.
func specRouterRoutes(t *testing.T) map[string]bool {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	km := keys.New(nil, nil, keys.Config{JWKSMaxAge: time.Minute}, time.Now, log)
	h := httpserver.New(httpserver.Deps{Log: log, Issuer: "http://localhost:8080", Keys: km})
	routes, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("httpserver.New returned %T, not a chi.Routes", h)
	}
	served := map[string]bool{}
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		served[specRoute(method, route)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(served) == 0 {
		t.Fatal("chi.Walk found no routes")
	}
	return served
}

// specLoad parses the embedded api/openapi.yaml twice: into the typed view
// and as a generic tree for resolving references.
func specLoad(t *testing.T) (specDoc, map[string]any) {
	t.Helper()
	var doc specDoc
	if err := yaml.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("api/openapi.yaml does not parse: %v", err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(api.OpenAPI, &tree); err != nil {
		t.Fatalf("api/openapi.yaml does not parse: %v", err)
	}
	return doc, tree
}

// specResolve follows a local JSON pointer reference ("#/components/...")
// in tree and reports whether it names something.
func specResolve(tree map[string]any, ref string) (any, bool) {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	var cur any = tree
	for _, tok := range strings.Split(ptr, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// specRefs collects every "$ref" value anywhere in v.
func specRefs(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, el := range v {
			if s, ok := el.(string); ok && k == "$ref" {
				*out = append(*out, s)
				continue
			}
			specRefs(el, out)
		}
	case []any:
		for _, el := range v {
			specRefs(el, out)
		}
	}
}

// specMissing returns the keys of want that have lost, sorted.
func specMissing(want, have map[string]bool) []string {
	var out []string
	for k := range want {
		if !have[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIMatchesRouter keeps api/openapi.yaml in step with routes.go:
// each documents exactly the routes of the other.
func TestOpenAPIMatchesRouter(t *testing.T) {
	served := specRouterRoutes(t)
	doc, _ := specLoad(t)

	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for key := range item {
			if slices.Contains(specMethods, key) {
				documented[specRoute(key, path)] = true
			}
		}
	}

	if missing := specMissing(served, documented); len(missing) > 0 {
		t.Errorf("the router serves %d route(s) that api/openapi.yaml does not document:\n\t%s",
			len(missing), strings.Join(missing, "\n\t"))
	}
	if extra := specMissing(documented, served); len(extra) > 0 {
		t.Errorf("api/openapi.yaml documents %d route(s) that the router does not serve:\n\t%s",
			len(extra), strings.Join(extra, "\n\t"))
	}
}

// TestOpenAPIDocumentIsWellFormed checks what the route comparison does not:
// the OpenAPI version, that every operation has a unique operationId and at
// least one response, that every path parameter is declared, and that every
// reference resolves.
func TestOpenAPIDocumentIsWellFormed(t *testing.T) {
	doc, tree := specLoad(t)

	if !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(doc.OpenAPI) {
		t.Errorf("openapi is %q, want 3.1.x", doc.OpenAPI)
	}
	if len(doc.Paths) == 0 {
		t.Fatal("the document has no paths")
	}

	// paramName reads a parameter, following its $ref, as "in:name".
	paramName := func(where string, p specParameter) string {
		if p.Ref == "" {
			return p.In + ":" + p.Name
		}
		v, ok := specResolve(tree, p.Ref)
		m, isMap := v.(map[string]any)
		if !ok || !isMap {
			t.Errorf("%s: parameter $ref %q does not resolve", where, p.Ref)
			return ""
		}
		in, _ := m["in"].(string)
		name, _ := m["name"].(string)
		return in + ":" + name
	}

	templateParam := regexp.MustCompile(`\{([^}]+)\}`)
	status := regexp.MustCompile(`^([1-5][0-9][0-9]|[1-5]XX|default)$`)
	opIDs := map[string]string{} // operationId -> the route that has it
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, path := range paths {
		item := doc.Paths[path]
		var common []specParameter
		if n, ok := item["parameters"]; ok {
			if err := n.Decode(&common); err != nil {
				t.Errorf("%s: parameters: %v", path, err)
			}
		}
		for _, method := range specMethods {
			n, ok := item[method]
			if !ok {
				continue
			}
			route := specRoute(method, path)
			var op specOperation
			if err := n.Decode(&op); err != nil {
				t.Errorf("%s: %v", route, err)
				continue
			}
			switch prev, dup := opIDs[op.OperationID]; {
			case op.OperationID == "":
				t.Errorf("%s has no operationId", route)
			case dup:
				t.Errorf("%s and %s share the operationId %q", prev, route, op.OperationID)
			default:
				opIDs[op.OperationID] = route
			}
			if len(op.Responses) == 0 {
				t.Errorf("%s has no responses", route)
			}
			for code := range op.Responses {
				if !status.MatchString(code) {
					t.Errorf("%s: %q is not a response status", route, code)
				}
			}
			declared := map[string]bool{}
			for _, p := range slices.Concat(common, op.Parameters) {
				declared[paramName(route, p)] = true
			}
			for _, m := range templateParam.FindAllStringSubmatch(path, -1) {
				if !declared["path:"+m[1]] {
					t.Errorf("%s: the path parameter %s is not declared", route, m[1])
				}
			}
		}
	}

	var refs []string
	specRefs(tree, &refs)
	var broken []string
	for _, ref := range refs {
		if _, ok := specResolve(tree, ref); !ok {
			broken = append(broken, ref)
		}
	}
	if len(broken) > 0 {
		slices.Sort(broken)
		t.Errorf("%d $ref(s) do not resolve:\n\t%s", len(broken), strings.Join(slices.Compact(broken), "\n\t"))
	}
}

// TestOpenAPIHelpersReportDifferences makes sure the comparison can fail: a
// route on one side only is named as missing from the other.
func TestOpenAPIHelpersReportDifferences(t *testing.T) {
	served := map[string]bool{"GET /a": true, "POST /b": true}
	documented := map[string]bool{"GET /a": true, "DELETE /c": true}
	if got, want := fmt.Sprint(specMissing(served, documented)), "[POST /b]"; got != want {
		t.Errorf("undocumented routes = %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(specMissing(documented, served)), "[DELETE /c]"; got != want {
		t.Errorf("unserved routes = %s, want %s", got, want)
	}
}
