package testguest

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// guestModules lists the drivers the guest needs, before dependencies: virtio
// transport, SCSI disks, CD-ROMs and generic SCSI for sg3-utils, virtio-blk,
// the guest agent's serial port, and the ACPI power button with evdev for
// acpid. Built-in ones are skipped.
func guestModules() []string {
	return []string{
		"virtio_pci", "virtio_scsi", "sd_mod", "sr_mod", "cdrom", "sg",
		"virtio_blk", "virtio_console", "evdev", "button",
	}
}

// kernelTree is an extracted kernel package's /lib/modules/<release>.
type kernelTree struct {
	dir     string            // absolute path of lib/modules/<release>
	builtin map[string]bool   // module names built into the kernel
	files   map[string]string // module name -> path relative to dir
}

// modName normalises a module or file name: the kernel treats - and _ alike.
func modName(s string) string {
	s = strings.TrimSuffix(filepath.Base(s), ".ko")
	return strings.ReplaceAll(s, "-", "_")
}

// loadKernelTree indexes the modules of the kernel tree in dir. The package
// ships no modules.dep (depmod makes it at install), so dependencies come from
// each module's .modinfo section instead.
func loadKernelTree(dir string) (*kernelTree, error) {
	kt := &kernelTree{dir: dir, builtin: map[string]bool{}, files: map[string]string{}}
	b, err := os.ReadFile(filepath.Join(dir, "modules.builtin"))
	if err != nil {
		return nil, fmt.Errorf("reading built-in module list: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			kt.builtin[modName(line)] = true
		}
	}
	err = filepath.WalkDir(filepath.Join(dir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			rel, _ := filepath.Rel(dir, p)
			kt.files[modName(p)] = rel
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("indexing modules in %s: %w", dir, err)
	}
	return kt, nil
}

// moduleDeps reads the depends= field of a module's .modinfo section.
func moduleDeps(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening module: %w", err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("%s has no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("reading .modinfo of %s: %w", path, err)
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			if len(v) == 0 {
				return nil, nil
			}
			return strings.Split(string(v), ","), nil
		}
	}
	return nil, nil
}

// resolve returns the module files (relative to kt.dir) needed for names, each
// after its dependencies, so that insmod in this order succeeds.
func (kt *kernelTree) resolve(names []string) ([]string, error) {
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string) error
	visit = func(name string) error {
		name = modName(name)
		if kt.builtin[name] || state[name] == 2 {
			return nil
		}
		if state[name] == 1 {
			return fmt.Errorf("module dependency cycle at %s", name)
		}
		rel, ok := kt.files[name]
		if !ok {
			return fmt.Errorf("module %s is neither built in nor shipped in %s", name, kt.dir)
		}
		state[name] = 1
		deps, err := moduleDeps(filepath.Join(kt.dir, rel))
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		state[name] = 2
		order = append(order, rel)
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return order, nil
}
