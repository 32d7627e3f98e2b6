package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// EgressFunc discovers the runner's public IP address.
type EgressFunc func(ctx context.Context) (net.IP, error)

// Anywhere is the CIDR only allowed with the explicit opt-in.
const Anywhere = "0.0.0.0/0"

// The widest ranges ssh-source-cidr may name without
// allow-ssh-from-anywhere: an IPv4 /24 (256 addresses: the runner's own
// network) and an IPv6 /64 (one subnet, what a single host is usually
// given). A wider range opens SSH to addresses the run does not know — a
// /8 is 16 million of them — so it needs the same explicit opt-in as the
// whole internet.
const (
	WidestIPv4Bits = 24
	WidestIPv6Bits = 64
)

// Unmapped is p as an IPv4 range when p is an IPv4-mapped IPv6 range
// (::ffff:203.0.113.7/128 is 203.0.113.7/32), and p masked otherwise. Such
// a range holds IPv4 addresses only, so it is judged, and written into a
// firewall rule, as the IPv4 range it is: as an IPv6 /96, all of IPv4
// would pass the IPv6 width check.
func Unmapped(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	// Masking to fewer than 96 bits clears part of the ::ffff: marker, so
	// a masked range is IPv4-mapped only from /96 on.
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// TooWide reports whether p opens SSH wider than WidestIPv4Bits (IPv4,
// IPv4-mapped included) or WidestIPv6Bits (IPv6), which takes
// allow-ssh-from-anywhere.
func TooWide(p netip.Prefix) bool {
	p = Unmapped(p)
	if p.Addr().Is4() {
		return p.Bits() < WidestIPv4Bits
	}
	return p.Bits() < WidestIPv6Bits
}

// WidestFor is the widest prefix length allowed without the opt-in for
// p's address family, for messages.
func WidestFor(p netip.Prefix) int {
	if Unmapped(p).Addr().Is4() {
		return WidestIPv4Bits
	}
	return WidestIPv6Bits
}

// OneAddressBits is the prefix length of a single address of p's family
// (32 or 128), for messages: "the runner's address as a /32".
func OneAddressBits(p netip.Prefix) int {
	return Unmapped(p).Addr().BitLen()
}

// SourceCIDR decides the only source allowed to reach tcp/22:
//
//   - override (the ssh-source-cidr input) when set, as ParseSourceCIDR
//     accepts it;
//   - 0.0.0.0/0 when allowAnywhere and no override;
//   - otherwise the discovered egress address as a /32 (or /128).
//
// An IPv4-mapped override (::ffff:203.0.113.7) is returned as the IPv4
// range it names.
func SourceCIDR(ctx context.Context, override string, allowAnywhere bool, discover EgressFunc) (string, error) {
	override = strings.TrimSpace(override)
	if override != "" {
		p, err := ParseSourceCIDR(override, allowAnywhere)
		if err != nil {
			return "", err
		}
		return p.String(), nil
	}
	if allowAnywhere {
		return Anywhere, nil
	}
	if discover == nil {
		return "", errors.New("discover the runner's IP: no discoverer configured; set ssh-source-cidr")
	}
	ip, err := discover(ctx)
	if err != nil {
		return "", fmt.Errorf("discover the runner's IP (set ssh-source-cidr to skip): %w", err)
	}
	// net.ParseIP gives IPv4 in its 16-byte form (::ffff:a.b.c.d): unmap
	// before judging it, or 0.0.0.0 reads as a specified IPv6 address.
	addr, ok := netip.AddrFromSlice(ip)
	addr = addr.Unmap()
	if !ok || !addr.IsValid() || addr.IsUnspecified() {
		return "", fmt.Errorf("discover the runner's IP: got %q, expected an IP address", ip)
	}
	return netip.PrefixFrom(addr, addr.BitLen()).String(), nil
}

// ParseSourceCIDR checks the ssh-source-cidr input, the one rule for it
// (internal/config's at load, SourceCIDR's): a CIDR, no wider than /24
// (IPv4) or /64 (IPv6) unless allowAnywhere. It returns the range masked,
// an IPv4-mapped one (::ffff:203.0.113.0/120) as the IPv4 range it names;
// a refusal is an *InputError.
func ParseSourceCIDR(v string, allowAnywhere bool) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(v)
	if err != nil {
		expected := "a CIDR like 203.0.113.7/32"
		if a, aerr := netip.ParseAddr(v); aerr == nil {
			expected += fmt.Sprintf(" (add /%d for one address)", a.BitLen())
		}
		return netip.Prefix{}, &InputError{Input: "ssh-source-cidr", Value: v, Expected: expected}
	}
	if TooWide(p) && !allowAnywhere {
		return netip.Prefix{}, &InputError{Input: "ssh-source-cidr", Value: v,
			Expected: fmt.Sprintf("a range of /%d or narrower (such as the runner's address as a /%d), or allow-ssh-from-anywhere: true to open SSH that wide",
				WidestFor(p), OneAddressBits(p))}
	}
	return Unmapped(p), nil
}

// DefaultEgressURL answers a plain-text body with the caller's address.
const DefaultEgressURL = "https://checkip.amazonaws.com"

// HTTPEgress returns an EgressFunc that GETs url and reads the caller's IP
// from the plain-text body. The production discoverer; tests point it at a
// local server or pass their own EgressFunc.
func HTTPEgress(client *http.Client, url string) EgressFunc {
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context) (net.IP, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 256))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", url, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		ip := net.ParseIP(strings.TrimSpace(string(body)))
		if ip == nil {
			return nil, fmt.Errorf("GET %s: body is not an IP address", url)
		}
		return ip, nil
	}
}
