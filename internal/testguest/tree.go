package testguest

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// osRelease lets guest-get-osinfo answer something meaningful.
const osRelease = `ID=govirt-testguest
NAME="govirt test guest"
PRETTY_NAME="govirt test guest (busybox, Debian cloud kernel)"
`

// guestTree lays out the initramfs: the scripts, busybox, qemu-ga and the
// sg3-utils programs with their libraries, and the kernel modules listed in
// /etc/govirt/modules in load order. moddir is the kernel package's
// lib/modules/<release>, agentRoot the extracted qemu-guest-agent package.
func guestTree(ctx context.Context, moddir, agentRoot string, in inputs) (*archive, error) {
	ar := newArchive()
	addSkeleton(ar)
	if err := addModules(ar, moddir); err != nil {
		return nil, err
	}
	agent := filepath.Join(agentRoot, "usr", "sbin", "qemu-ga")
	agentLibs, err := sharedLibs(ctx, agent)
	if err != nil {
		return nil, err
	}
	ar.addFile("/usr/sbin/qemu-ga", agent, 0o755)
	addLibs(ar, agentLibs)
	for _, p := range in.progs {
		ar.addFile(p.guest, p.host, 0o755)
		addLibs(ar, in.libs[p.host])
	}
	return ar, nil
}

// addSkeleton adds the directories, device node and scripts every boot needs.
func addSkeleton(ar *archive) {
	for _, d := range []string{"/dev", "/proc", "/sys", "/run", "/etc", "/root"} {
		ar.addDir(d, 0o755)
	}
	ar.addDir("/tmp", 0o1777)
	// The kernel opens /dev/console for init before init mounts devtmpfs.
	ar.addCharDev("/dev/console", 5, 1, 0o600)
	ar.addSymlink("/var/run", "../run")
	ar.addSymlink("/bin/sh", "busybox")
	ar.addBytes("/init", initScript, 0o755)
	ar.addBytes("/sbin/shutdown", shutdownScript, 0o755)
	// busybox acpid runs /etc/acpi/PWRF/00000080 for the power button.
	ar.addSymlink("/etc/acpi/PWRF/00000080", "/sbin/shutdown")
	ar.addBytes("/etc/os-release", []byte(osRelease), 0o644)
}

// addModules copies the guest's modules and their dependencies, skipping
// built-in ones, and writes their load order to /etc/govirt/modules.
func addModules(ar *archive, moddir string) error {
	kt, err := loadKernelTree(moddir)
	if err != nil {
		return err
	}
	order, err := kt.resolve(guestModules())
	if err != nil {
		return err
	}
	guestDir := path.Join("/lib/modules", filepath.Base(moddir))
	var list strings.Builder
	for _, rel := range order {
		dst := path.Join(guestDir, filepath.ToSlash(rel))
		ar.addFile(dst, filepath.Join(moddir, rel), 0o644)
		fmt.Fprintln(&list, dst)
	}
	ar.addBytes("/etc/govirt/modules", []byte(list.String()), 0o644)
	return nil
}

// addLibs copies host libraries to the same paths in the guest, where the
// dynamic loader's default search finds them.
func addLibs(ar *archive, libs []string) {
	for _, l := range libs {
		ar.addFile(l, l, 0o755)
	}
}
