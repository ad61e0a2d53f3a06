package testguest

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The guest's scripts, versioned here and hashed into the cache key.
var (
	//go:embed init.sh
	initScript []byte
	//go:embed shutdown.sh
	shutdownScript []byte
)

// layoutVersion changes whenever the builder lays the image out differently,
// so that images from an older builder are not reused.
const layoutVersion = "1"

// defaultCmdline puts the console on ttyS0 and trims TCG boot time: quiet
// (the emulated UART is slow, and fewer kernel lines interleave with the
// inventory), cryptomgr.notests (the crypto self-tests cost about a second)
// and acpi=noirq (routing PCI interrupts through ACPI link objects costs
// about a second more; virtio uses MSI-X, and PCI hot-plug still works).
const defaultCmdline = "console=ttyS0 quiet cryptomgr.notests acpi=noirq"

// BuildOptions tells Build where to keep the guest and whom to tell.
type BuildOptions struct {
	// CacheDir holds built images; empty means DefaultCacheDir(). QEMU runs
	// as libvirt-qemu, so it and its parents must be world-traversable.
	CacheDir string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Image is a built guest, ready for direct kernel boot.
type Image struct {
	Kernel  string // absolute path of the kernel (bzImage)
	Initrd  string // absolute path of the gzip-compressed initramfs
	Cmdline string // recommended kernel command line
}

// DefaultCacheDir is where images go unless told otherwise: $GOVIRT_GUEST_CACHE,
// else /var/cache/govirt/guest, shared by every test run on the machine.
func DefaultCacheDir() string {
	if d := os.Getenv("GOVIRT_GUEST_CACHE"); d != "" {
		return d
	}
	return "/var/cache/govirt/guest"
}

// Build returns the test guest for the current Debian kernel and qemu-ga,
// building it into the cache directory only when no image with the same
// inputs is there. Concurrent callers (several test processes) are safe: one
// builds under a lock and publishes with an atomic rename.
func Build(ctx context.Context, opts BuildOptions) (Image, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dir, err := cacheDir(opts.CacheDir)
	if err != nil {
		return Image{}, err
	}
	warnUntraversable(log, dir)
	in, err := gatherInputs(ctx, dir)
	if err != nil {
		return Image{}, err
	}
	final := filepath.Join(dir, in.key())
	img := imageIn(final)
	if !img.exists() {
		if err := buildLocked(ctx, log, dir, final, in); err != nil {
			return Image{}, err
		}
	}
	// The directory's mtime records the last use, for pruneUnused.
	now := time.Now()
	_ = os.Chtimes(final, now, now)
	return img, nil
}

// cacheDir makes the cache directory (or the default one) absolute and
// world-traversable.
func cacheDir(dir string) (string, error) {
	if dir == "" {
		dir = DefaultCacheDir()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("test guest cache dir: %w", err)
	}
	return abs, makeDir(abs)
}

// buildLocked builds the image under the cache lock unless another process
// built it while this one waited for the lock.
func buildLocked(ctx context.Context, log *slog.Logger, dir, final string, in inputs) error {
	unlock, err := lockDir(ctx, dir)
	if err != nil {
		return err
	}
	defer unlock()
	if imageIn(final).exists() {
		return nil
	}
	removeStaleBuilds(log, dir)
	pruneUnused(log, dir)
	start := time.Now()
	log.Info("building test guest", "dir", final, "kernel", in.pkgs.KernelPackage+"="+in.pkgs.KernelVersion,
		"qemu-ga", in.pkgs.AgentVersion)
	if err := buildInto(ctx, dir, final, in); err != nil {
		return err
	}
	log.Info("built test guest", "dir", final, "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

func imageIn(dir string) Image {
	return Image{
		Kernel:  filepath.Join(dir, "vmlinuz"),
		Initrd:  filepath.Join(dir, "initrd.gz"),
		Cmdline: defaultCmdline,
	}
}

func (img Image) exists() bool {
	for _, p := range []string{img.Kernel, img.Initrd} {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

// inputs is everything an image is made from; its hash names the image.
type inputs struct {
	pkgs  packages
	progs []hostProgram
	libs  map[string][]string // host program -> its libraries
}

func gatherInputs(ctx context.Context, dir string) (inputs, error) {
	pkgs, err := resolvePackages(ctx, filepath.Join(dir, "packages.json"))
	if err != nil {
		return inputs{}, err
	}
	progs, err := hostPrograms()
	if err != nil {
		return inputs{}, err
	}
	in := inputs{pkgs: pkgs, progs: progs, libs: map[string][]string{}}
	for _, p := range progs {
		libs, err := sharedLibs(ctx, p.host)
		if err != nil {
			return inputs{}, err
		}
		in.libs[p.host] = libs
	}
	return in, nil
}

// key hashes the inputs: package versions, scripts, module list, and the
// host programs and libraries by path, size and modification time.
func (in inputs) key() string {
	h := sha256.New()
	fmt.Fprintf(h, "layout %s\ncmdline %s\n", layoutVersion, defaultCmdline)
	fmt.Fprintf(h, "kernel %s %s\nagent %s\n", in.pkgs.KernelPackage, in.pkgs.KernelVersion, in.pkgs.AgentVersion)
	fmt.Fprintf(h, "modules %s\n", strings.Join(guestModules(), ","))
	for _, s := range [][]byte{initScript, shutdownScript} {
		fmt.Fprintf(h, "script %x\n", sha256.Sum256(s))
	}
	for _, p := range in.progs {
		fmt.Fprintf(h, "prog %s %s\n", p.guest, fileStamp(p.host))
		for _, l := range in.libs[p.host] {
			fmt.Fprintf(h, "lib %s\n", fileStamp(l))
		}
	}
	return "guest-" + in.pkgs.KernelVersion + "-" + hex.EncodeToString(h.Sum(nil))[:16]
}

func fileStamp(p string) string {
	info, err := os.Stat(p)
	if err != nil {
		return p + " missing"
	}
	return fmt.Sprintf("%s %d %d", p, info.Size(), info.ModTime().UnixNano())
}

// removeStaleBuilds deletes build directories that crashed builds left; it
// runs under the lock, so none of them is in use.
func removeStaleBuilds(log *slog.Logger, dir string) {
	stale, _ := filepath.Glob(filepath.Join(dir, ".build-*"))
	for _, d := range stale {
		if err := os.RemoveAll(d); err != nil {
			log.Warn("removing stale test guest build", "dir", d, "err", err)
		}
	}
}

// unusedFor is how long an image may go unused before a build deletes it:
// long enough for test runs of other branches, short enough that a changing
// init script does not fill the disk.
const unusedFor = 7 * 24 * time.Hour

// pruneUnused deletes images that no Build returned for unusedFor.
func pruneUnused(log *slog.Logger, dir string) {
	images, _ := filepath.Glob(filepath.Join(dir, "guest-*"))
	for _, d := range images {
		info, err := os.Stat(d)
		if err != nil || time.Since(info.ModTime()) < unusedFor {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			log.Warn("removing unused test guest", "dir", d, "err", err)
		}
	}
}

// buildInto builds the image in a temporary directory inside dir and renames
// it to final, so that readers never see a half-written image.
func buildInto(ctx context.Context, dir, final string, in inputs) error {
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return fmt.Errorf("creating build dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	roots, err := downloadAndExtract(ctx, tmp, in.pkgs)
	if err != nil {
		return err
	}
	out := filepath.Join(tmp, "image")
	if err := makeDir(out); err != nil {
		return err
	}
	if err := writeImage(ctx, out, roots, in); err != nil {
		return err
	}
	if err := os.Rename(out, final); err != nil {
		return fmt.Errorf("publishing test guest: %w", err)
	}
	return nil
}

// writeImage writes vmlinuz and initrd.gz into out.
func writeImage(ctx context.Context, out string, roots map[string]string, in inputs) error {
	kroot := roots[in.pkgs.KernelPackage]
	rels, err := filepath.Glob(filepath.Join(kroot, "lib", "modules", "*"))
	if err != nil || len(rels) != 1 {
		return fmt.Errorf("%s: expected one lib/modules/<release>, found %v", in.pkgs.KernelPackage, rels)
	}
	release := filepath.Base(rels[0])
	if err := copyFile(filepath.Join(kroot, "boot", "vmlinuz-"+release), filepath.Join(out, "vmlinuz")); err != nil {
		return err
	}
	ar, err := guestTree(ctx, rels[0], roots[agentPackage], in)
	if err != nil {
		return err
	}
	return writeInitrd(ar, filepath.Join(out, "initrd.gz"))
}

func writeInitrd(ar *archive, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("creating initrd: %w", err)
	}
	if err := ar.writeGzip(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing initrd: %w", err)
	}
	return os.Chmod(path, 0o644)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("reading %s: %w", src, err)
	}
	return writeFileAtomic(dst, b)
}

// writeFileAtomic writes a world-readable file by rename, so a concurrent
// reader sees the old or the new contents, never a mix.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// makeDir creates dir with mode 0755 whatever the umask: QEMU runs as
// libvirt-qemu and must traverse it.
func makeDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("making %s traversable: %w", dir, err)
	}
	return nil
}

// warnUntraversable logs ancestors of dir that other users cannot enter: QEMU
// (as libvirt-qemu) could not open the kernel, and the cause would be obscure.
func warnUntraversable(log *slog.Logger, dir string) {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		info, err := os.Stat(d)
		if err == nil && info.Mode().Perm()&0o001 == 0 {
			log.Warn("test guest cache dir is not traversable by libvirt-qemu", "dir", dir, "blocked_at", d)
			return
		}
		if d == filepath.Dir(d) {
			return
		}
	}
}
