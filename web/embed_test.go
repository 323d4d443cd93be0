package web

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"
)

// consoleFiles reads every file of the console.
func consoleFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := fs.WalkDir(Console(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(Console(), p)
		files[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["index.html"]; !ok {
		t.Fatal("the console has no index.html")
	}
	return files
}

// TestConsoleHasNoInlineCodeOrMarkupSinks keeps the console within its
// Content-Security-Policy and its rule that user text is only ever text:
// no inline script or style in the page, and no API in the modules that
// parses a string as HTML, runs a string as code, or stores anything in
// the browser.
func TestConsoleHasNoInlineCodeOrMarkupSinks(t *testing.T) {
	files := consoleFiles(t)
	page := files["index.html"]
	for _, tag := range regexp.MustCompile(`(?i)<script[^>]*>`).FindAllString(page, -1) {
		if !strings.Contains(tag, ` src="`) {
			t.Errorf("index.html has an inline script: %s", tag)
		}
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<script[^>]*>[^<]+</script>`),
		regexp.MustCompile(`(?i)<style`),
		regexp.MustCompile(`(?i)\sstyle=`),
		regexp.MustCompile(`(?i)\son[a-z]+=`),
		regexp.MustCompile(`(?i)javascript:`),
	} {
		if m := bad.FindString(page); m != "" {
			t.Errorf("index.html has %q", m)
		}
	}

	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|` +
		`localStorage|sessionStorage|indexedDB|document\.cookie|\.style\b|createContextualFragment|DOMParser`)
	// Quoted strings and comments may name what the code must not use.
	quoted := regexp.MustCompile(`'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"`)
	for name, text := range files {
		if path.Ext(name) != ".js" {
			continue
		}
		for i, line := range strings.Split(text, "\n") {
			code := quoted.ReplaceAllString(line, "''")
			if j := strings.Index(code, "//"); j >= 0 {
				code = code[:j]
			}
			if strings.HasPrefix(strings.TrimSpace(code), "*") {
				continue
			}
			if m := sinks.FindString(code); m != "" {
				t.Errorf("%s:%d uses %s: %s", name, i+1, m, strings.TrimSpace(line))
			}
		}
	}
}

// TestConsoleFetchesNothingFromElsewhere: every file the page or a module
// loads is one of the console's own, and no file names another origin.
func TestConsoleFetchesNothingFromElsewhere(t *testing.T) {
	files := consoleFiles(t)
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"#]+)"`).FindAllStringSubmatch(files["index.html"], -1) {
		name, ok := strings.CutPrefix(m[1], "console/")
		if !ok {
			t.Errorf("index.html loads %q, which is not under console/", m[1])
		} else if _, ok := files[name]; !ok {
			t.Errorf("index.html loads %q, which the console does not have", m[1])
		}
	}
	imports := regexp.MustCompile(`(?m)^import\s[^'"]*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]`)
	for name, text := range files {
		if path.Ext(name) != ".js" {
			continue
		}
		for _, m := range imports.FindAllStringSubmatch(text, -1) {
			target := m[1] + m[2]
			rel, ok := strings.CutPrefix(target, "./")
			if !ok {
				t.Errorf("%s imports %q: only ./NAME.js of the console itself", name, target)
			} else if _, ok := files[rel]; !ok {
				t.Errorf("%s imports %q, which the console does not have", name, target)
			}
		}
	}
	origin := regexp.MustCompile(`(?i)\b(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for name, text := range files {
		for _, m := range origin.FindAllString(text, -1) {
			if m == "http://www.w3.org" { // the SVG namespace, not a fetch
				continue
			}
			t.Errorf("%s names another origin: %s", name, m)
		}
	}
}
