//go:build linux

package main

import (
	"context"
	"os"
	"syscall"
	"unsafe"
)

func ioctlTermios(fd, req uintptr, t *syscall.Termios) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(unsafe.Pointer(t))); errno != 0 {
		return errno
	}
	return nil
}

// readSecret reads a line from the terminal f with echo off. When ctx ends
// (Ctrl-C) it gives up and restores the terminal at once.
func readSecret(ctx context.Context, f *os.File) (string, error) {
	fd := f.Fd()
	var saved syscall.Termios
	if err := ioctlTermios(fd, syscall.TCGETS, &saved); err != nil {
		return readLine(f) // not a terminal after all
	}
	quiet := saved
	quiet.Lflag &^= syscall.ECHO
	quiet.Lflag |= syscall.ICANON | syscall.ISIG
	if err := ioctlTermios(fd, syscall.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer func() { _ = ioctlTermios(fd, syscall.TCSETS, &saved) }()
	type line struct {
		s   string
		err error
	}
	done := make(chan line, 1)
	go func() {
		s, err := readLine(f)
		done <- line{s, err}
	}()
	select {
	case l := <-done:
		return l.s, l.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
