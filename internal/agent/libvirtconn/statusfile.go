package libvirtconn

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/digitalocean/go-libvirt"
)

// libvirt's RPC carries no string over 4 MiB (REMOTE_STRING_MAX), and the
// live XML of a domain with more than about 7,800 disks is larger (16,383
// disks: 8.8 MB): virDomainGetXMLDesc fails with "Unable to encode message
// payload", and the agent could not describe the VM at all. libvirtd keeps
// the same live definition in a status file of its own, which the agent,
// running beside it as the same user, reads instead for such a domain.

// tooLargeForRPC tells whether libvirtd refused to send an answer for its
// size.
func tooLargeForRPC(err error) bool {
	var le libvirt.Error
	return errors.As(err, &le) && strings.Contains(le.Message, "Unable to encode message payload")
}

// statusDirFor is where libvirtd's qemu driver at uri keeps its status
// files: /run/libvirt/qemu for the system driver, the user's runtime
// directory for a session one.
func statusDirFor(uri string) string {
	if strings.HasPrefix(uri, "qemu:///session") {
		if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
			return filepath.Join(d, "libvirt", "qemu", "run")
		}
	}
	return "/run/libvirt/qemu"
}

// statusFileXML reads the live XML of the running domain name from
// libvirtd's status file.
func (c *Conn) statusFileXML(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return "", fmt.Errorf("libvirt: status file of domain %q: bad name", name)
	}
	b, err := os.ReadFile(filepath.Join(c.statusDir, name+".xml"))
	if err != nil {
		return "", fmt.Errorf("libvirt: domain %s's XML is too large for libvirt's RPC, and its status file: %w", name, err)
	}
	x, err := domainOfStatus(b)
	if err != nil {
		return "", fmt.Errorf("libvirt: status file of domain %s: %w", name, err)
	}
	return x, nil
}

// domainOfStatus is the <domain> element of a libvirtd status file
// (<domstatus>, the domain inside with private data the parsers skip).
func domainOfStatus(b []byte) (string, error) {
	status := bytes.Index(b, []byte("<domstatus")) // after libvirt's warning comment
	start := bytes.Index(b, []byte("<domain "))
	end := bytes.LastIndex(b, []byte("</domain>"))
	if status < 0 || start < status || end < start {
		return "", errors.New("not a domstatus document with a domain")
	}
	return string(b[start : end+len("</domain>")]), nil
}
