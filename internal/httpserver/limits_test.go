package httpserver_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

var grant = url.Values{"grant_type": {"client_credentials"}}

// A source address that fails too often is turned away with 429, even
// with good credentials, until its window has passed.
func TestLimitsFailuresPerSource(t *testing.T) {
	t.Parallel()
	ts := newTestServerWith(t, serverOptions{failuresBySource: 3})
	adminTok := ts.adminToken(t)
	org := ts.createOrg(t, adminTok, "Acme")
	id, plain := ts.createClient(t, adminTok, org, map[string]any{})

	for i := 1; i <= 3; i++ {
		if tr := ts.postToken(t, id, "wrong", grant); tr.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s, want 401", i, tr.Status, tr.Error)
		}
	}
	tr := ts.postToken(t, id, "wrong", grant)
	if tr.Status != http.StatusTooManyRequests || tr.Error != "rate_limited" || tr.Header.Get("Retry-After") == "" {
		t.Fatalf("the 4th failure: %d %s Retry-After %q, want 429 rate_limited with Retry-After",
			tr.Status, tr.Error, tr.Header.Get("Retry-After"))
	}
	if tr := ts.postToken(t, id, plain, grant); tr.Status != http.StatusTooManyRequests {
		t.Fatalf("good credentials from the blocked source: %d, want 429", tr.Status)
	}
	ts.Clock.Advance(time.Minute)
	if tr := ts.postToken(t, id, plain, grant); tr.Status != http.StatusOK {
		t.Fatalf("good credentials after the window: %d %s, want 200", tr.Status, tr.Error)
	}
	if !strings.Contains(ts.Logs(), `"source":"127.0.0.1"`) {
		t.Fatal("failed authentications are not logged with their source address")
	}
}

// Failures as one client id get 429 past the limit, but the client's
// owner, authenticating correctly, is never locked out.
func TestLimitsFailuresPerClientNeverLockOutTheOwner(t *testing.T) {
	t.Parallel()
	ts := newTestServerWith(t, serverOptions{failuresByClient: 2})
	adminTok := ts.adminToken(t)
	org := ts.createOrg(t, adminTok, "Acme")
	id, plain := ts.createClient(t, adminTok, org, map[string]any{})
	other, otherPlain := ts.createClient(t, adminTok, org, map[string]any{})

	want := []int{401, 401, 429, 429}
	for i, status := range want {
		if tr := ts.postToken(t, id, "wrong", grant); tr.Status != status {
			t.Fatalf("failure %d: %d, want %d", i+1, tr.Status, status)
		}
	}
	if tr := ts.postToken(t, id, plain, grant); tr.Status != http.StatusOK {
		t.Fatalf("the owner's good credentials: %d %s, want 200", tr.Status, tr.Error)
	}
	if tr := ts.postToken(t, other, otherPlain, grant); tr.Status != http.StatusOK {
		t.Fatalf("another client: %d %s, want 200", tr.Status, tr.Error)
	}
	if tr := ts.postToken(t, "m2m_nobody", "wrong", grant); tr.Status != http.StatusUnauthorized {
		t.Fatalf("an unknown client's first failure: %d, want 401", tr.Status)
	}
}

// Past the bound on token requests served at once, a request is answered
// 503 at once instead of waiting.
func TestLimitsTokenRequestsShedPastTheBound(t *testing.T) {
	t.Parallel()
	ts := newTestServerWith(t, serverOptions{maxTokenRequests: 1})
	adminTok := ts.adminToken(t)
	org := ts.createOrg(t, adminTok, "Acme")
	id, plain := ts.createClient(t, adminTok, org, map[string]any{})

	// A request that holds the one slot: its body arrives slowly. It may
	// itself be shed if it arrives while another request holds the slot;
	// then it is answered at once, and it is tried again.
	body := grant.Encode()
	var conn net.Conn
	for attempt := 0; ; attempt++ {
		if attempt == 20 {
			t.Fatal("a slow request never got hold of the slot")
		}
		c, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
			"Authorization: Basic %s\r\nContent-Length: %d\r\n\r\n%s", basic(id, plain), len(body), body[:5])
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() { // no answer: it waits in the handler
				c.SetReadDeadline(time.Time{})
				conn = c
				break
			}
		}
		c.Close()
	}
	defer conn.Close()

	var tr tokenResponse
	if !eventually(t, 5*time.Second, func() bool {
		tr = ts.postToken(t, id, plain, grant)
		return tr.Status == http.StatusServiceUnavailable
	}) {
		t.Fatalf("with the slot held: %d %s, want 503", tr.Status, tr.Error)
	}
	if tr.Error != "temporarily_unavailable" || tr.Header.Get("Retry-After") == "" {
		t.Fatalf("shed answer: %s Retry-After %q, want temporarily_unavailable with Retry-After", tr.Error, tr.Header.Get("Retry-After"))
	}

	fmt.Fprint(conn, body[5:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the slow request: %d, want 200", resp.StatusCode)
	}
	if tr := ts.postToken(t, id, plain, grant); tr.Status != http.StatusOK {
		t.Fatalf("after the slot is free: %d %s, want 200", tr.Status, tr.Error)
	}
}

func basic(id, secret string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}
