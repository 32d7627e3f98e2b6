package ghreport

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

// mountedAPI is a GitHub that serves its API only under mount, as GHES
// serves it under /api/v3 and api.github.com at its root: a request
// under mount reaches the fake with mount cut off, any other is the web
// host's 404. Unlike the fake itself, which takes /api/v3 or the root
// alike, it tells a client calling the wrong base. It records every path
// it was asked for.
type mountedAPI struct {
	mu    sync.Mutex
	paths []string
}

func (m *mountedAPI) serve(t *testing.T, mount string) *httptest.Server {
	t.Helper()
	f := newFake(t)
	target, err := url.Parse(f.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.URL.Path, pr.Out.URL.RawPath = strings.TrimPrefix(pr.In.URL.Path, mount), ""
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.paths = append(m.paths, r.URL.Path)
		m.mu.Unlock()
		if !strings.HasPrefix(r.URL.Path, mount+"/repos/") {
			http.NotFound(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A github-api-url that is a bare host other than an api.* one is a GHES
// web host: the reporter calls its API under /api/v3/, as go-github's
// WithEnterpriseURLs does, rather than /repos/… at the web root (a 404
// that would silently degrade the report). A URL with a path, or an api.*
// host (api.github.com, GHE.com's api.SUBDOMAIN.ghe.com), is called as
// given. Every host name here is dialled at the loopback server.
func TestAPIURLBareHostIsGHES(t *testing.T) {
	for _, tc := range []struct {
		name, apiURL, mount string
	}{
		{"GHES web host", "http://ghe.example.com", "/api/v3"},
		{"GHES web host with slash", "http://ghe.example.com/", "/api/v3"},
		{"GHES web host, upper case", "http://GHE.Example.COM", "/api/v3"},
		{"loopback address", "", "/api/v3"}, // the server's own http://127.0.0.1:PORT
		{"GHES API base", "http://ghe.example.com/api/v3", "/api/v3"},
		{"GHES API base with slash", "http://ghe.example.com/api/v3/", "/api/v3"},
		{"api.github.com", "http://api.github.com", ""},
		{"api.github.com with slash", "http://api.github.com/", ""},
		{"GHE.com", "http://api.octocorp.ghe.com", ""},
		{"GHE.com, upper case", "http://API.octocorp.ghe.com/", ""},
		{"a proxy's path", "http://proxy.example/github", "/github"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &mountedAPI{}
			srv := m.serve(t, tc.mount)
			apiURL := tc.apiURL
			if apiURL == "" {
				apiURL = srv.URL
			}
			addr := srv.Listener.Addr().String()
			client := &http.Client{Transport: &http.Transport{
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, network, addr)
				},
			}}
			t.Cleanup(client.CloseIdleConnections)
			r, err := New(Config{Token: testToken, APIURL: apiURL, Event: prEvent(sha1), HTTPClient: client,
				Clock: testClock{sleep: noWait}})
			if err != nil {
				t.Fatalf("New(%s): %v", apiURL, err)
			}
			out := r.Finish(context.Background(), legRow("aws", matrix.Pass, ""))
			m.mu.Lock()
			paths := append([]string(nil), m.paths...)
			m.mu.Unlock()
			if len(paths) == 0 {
				t.Fatalf("github-api-url %s: no request reached the server", apiURL)
			}
			for _, p := range paths {
				if !strings.HasPrefix(p, tc.mount+"/repos/") {
					t.Errorf("github-api-url %s: request to %s, want it under %s/repos/", apiURL, p, tc.mount)
				}
			}
			if out.Degraded || !out.StatusPosted || out.CommentURL == "" {
				t.Errorf("github-api-url %s: Finish %+v, want the status and comment posted", apiURL, out)
			}
		})
	}
}
