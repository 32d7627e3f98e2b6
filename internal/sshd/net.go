package sshd

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
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

