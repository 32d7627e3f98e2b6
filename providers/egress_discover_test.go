package providers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSourceCIDRRefusesUnusableDiscoveredAddress: what discovery returns
// becomes the firewall's only allowed source, so an address that names no
// host is an error, not a rule. net.ParseIP gives IPv4 addresses in their
// 16-byte form (::ffff:0.0.0.0), as HTTPEgress returns them; 4-byte and
// IPv6 forms are refused as well.
func TestSourceCIDRRefusesUnusableDiscoveredAddress(t *testing.T) {
	tests := []struct {
		name string
		ip   net.IP
	}{
		{"0.0.0.0 as ParseIP gives it", net.ParseIP("0.0.0.0")},
		{"0.0.0.0 in 4 bytes", net.IPv4zero.To4()},
		{"::", net.ParseIP("::")},
		{"::ffff:0.0.0.0 spelled out", net.ParseIP("::ffff:0.0.0.0")},
		{"nil", nil},
		{"3 bytes", net.IP{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			discover := func(context.Context) (net.IP, error) { return tt.ip, nil }
			got, err := SourceCIDR(context.Background(), "", false, discover)
			if err == nil {
				t.Fatalf("SourceCIDR = %q, want an error for discovered %v", got, tt.ip)
			}
			if !strings.Contains(err.Error(), "discover the runner's IP") || !strings.Contains(err.Error(), "expected an IP address") {
				t.Errorf("err = %v, want it to say discovery gave no usable address", err)
			}
		})
	}
	// The 16-byte form of a real address is its IPv4 /32.
	got, err := SourceCIDR(context.Background(), "", false, func(context.Context) (net.IP, error) {
		return net.ParseIP("192.0.2.1"), nil
	})
	if err != nil || got != "192.0.2.1/32" {
		t.Fatalf("SourceCIDR = %q, %v; want 192.0.2.1/32", got, err)
	}
}

// TestHTTPEgressStatus: only a 200 answer is read as the caller's address.
// An error page whose body happens to be an address (a proxy's, a stale
// cache's) is not the runner's egress.
func TestHTTPEgressStatus(t *testing.T) {
	tests := []struct {
		status  int
		body    string
		want    string
		wantErr string
	}{
		{http.StatusOK, "192.0.2.1\n", "192.0.2.1", ""},
		{http.StatusServiceUnavailable, "192.0.2.1\n", "", "503 Service Unavailable"},
		{http.StatusNotFound, "192.0.2.1", "", "404 Not Found"},
		{http.StatusNoContent, "", "", "204 No Content"},
		{http.StatusMovedPermanently, "192.0.2.1", "", "301 Moved Permanently"},
		{http.StatusOK, "", "", "body is not an IP address"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %q", tt.status, tt.body), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			ip, err := HTTPEgress(srv.Client(), srv.URL+"/")(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ip %v, err %v: want an error containing %q", ip, err, tt.wantErr)
				}
				return
			}
			if err != nil || ip.String() != tt.want {
				t.Fatalf("ip %v, err %v: want %s", ip, err, tt.want)
			}
		})
	}
}
