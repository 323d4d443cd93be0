package admin

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/store"
)

const (
	defaultPageSize = 50
	maxPageSize     = 500
)

// pageFrom reads page_size and page_token. A page token is the opaque
// keyset position of the last row served, bound to the list it came from
// (scope), so it cannot be replayed against another list.
func pageFrom(r *http.Request, scope string) (store.Page, error) {
	q := r.URL.Query()
	p := store.Page{Limit: defaultPageSize}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, fieldError("page_size", "must be a non-negative integer")
		}
		switch {
		case n == 0:
		case n > maxPageSize:
			p.Limit = maxPageSize
		default:
			p.Limit = n
		}
	}
	if v := q.Get("page_token"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		rest, ok := strings.CutPrefix(string(raw), scope+":")
		seq, perr := strconv.ParseInt(rest, 10, 64)
		if err != nil || !ok || perr != nil || seq < 0 {
			return p, fieldError("page_token", "is not a page token of this list")
		}
		p.After = seq
	}
	return p, nil
}

func pageToken(scope string, lastSeq int64, more bool) string {
	if !more {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(scope + ":" + strconv.FormatInt(lastSeq, 10)))
}
