package sshd

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// freePort asks the kernel for a free TCP port on addr.
func freePort(addr string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, fmt.Errorf("pick a free port on %s: %w", addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// dialIn opens and closes a TCP connection to target, inside network
// namespace netns when it is set.
func dialIn(netns, target string) error {
	if netns == "" {
		return dial(target)
	}
	errc := make(chan error, 1)
	go func() {
		// The thread is left locked so it dies with the goroutine rather
		// than returning to the pool inside another namespace.
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/run/netns", netns))
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", netns, err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", netns, err)
			return
		}
		errc <- dial(target)
	}()
	return <-errc
}

func dial(target string) error {
	c, err := net.DialTimeout("tcp", target, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// FreeLoopback returns a random address in 127.0.0.0/8 (Linux routes the
// whole block to lo) where port is free, so several servers can each have
// their own address and the same port, as cloud hosts do. Port 0 only checks
// that the address can be bound.
func FreeLoopback(port int) (string, error) {
	var lastErr error
	for range 20 {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("pick a loopback address: %w", err)
		}
		// Avoid x.x.x.0 and x.x.x.255 and 127.0.0.1, which others use.
		ip := fmt.Sprintf("127.%d.%d.%d", b[0]%254+1, b[1], b[2]%253+2)
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			lastErr = err
			continue
		}
		l.Close()
		return ip, nil
	}
	return "", fmt.Errorf("pick a loopback address with port %d free: %w", port, lastErr)
}
