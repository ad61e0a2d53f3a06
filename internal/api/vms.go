package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/govirt/govirt/internal/api/ovirt"
	"github.com/govirt/govirt/internal/engine"
	"github.com/govirt/govirt/internal/model"
	"github.com/govirt/govirt/internal/store"
)

// vmView is a VM with what its wire form needs besides the row.
type vmView struct {
	vm         model.VM
	virtioSCSI bool
}

func (s *Server) loadVMView(c *call, tx store.Tx, vm model.VM) (vmView, error) {
	scsi, err := tx.VMsWithDevice(c.ctx, model.DeviceVirtioSCSI, vm.ID)
	return vmView{vm: vm, virtioSCSI: scsi[vm.ID]}, err
}

func vmToWire(v vmView) ovirt.VM {
	vm := v.vm
	base := href("vms", vm.ID)
	out := ovirt.VM{
		ID: vm.ID, Href: base, Name: ovirt.Str(vm.Name), Description: ovirt.Str(vm.Description),
		Status: ovirt.Str(string(vm.Status)), Memory: ovirt.I(vm.MemoryBytes),
		CPU:                          &ovirt.CPU{Topology: &ovirt.Topology{Sockets: ovirt.I(int64(vm.VCPUs)), Cores: ovirt.I(1), Threads: ovirt.I(1)}},
		OS:                           &ovirt.OS{Type: ovirt.Str(vm.OSType)},
		IO:                           &ovirt.IO{Threads: ovirt.I(int64(vm.IOThreads))},
		VirtioSCSI:                   &ovirt.VirtioSCSI{Enabled: ovirt.B(v.virtioSCSI)},
		VirtioSCSIMultiQueuesEnabled: ovirt.B(vm.VirtioSCSIMultiQueues != 0),
		Cluster:                      ref("clusters", vm.ClusterID),
		Template:                     ref("templates", vm.TemplateID),
		Host:                         ref("hosts", vm.HostID),
		Actions:                      actions(base, "start", "stop", "shutdown"),
		Links:                        links(base, "diskattachments", "permissions", "cdroms"),
	}
	if vm.VirtioSCSIMultiQueues > 0 {
		out.VirtioSCSIMultiQueues = ovirt.I(int64(vm.VirtioSCSIMultiQueues))
	}
	for _, p := range []struct {
		dst **string
		v   string
	}{{&out.OS.Kernel, vm.Kernel}, {&out.OS.Initrd, vm.Initrd}, {&out.OS.Cmdline, vm.Cmdline}} {
		if p.v != "" {
			*p.dst = ovirt.Str(p.v)
		}
	}
	return out
}

// vmParams turns a wire VM into engine parameters, leaving absent fields nil.
func vmParams(in ovirt.VM) (engine.VMParams, error) {
	p := engine.VMParams{Name: in.Name, Description: in.Description}
	if in.Memory != nil {
		m := int64(*in.Memory)
		p.MemoryBytes = &m
	}
	if in.CPU != nil && in.CPU.Topology != nil {
		n := int64(1)
		for _, f := range []*ovirt.Int{in.CPU.Topology.Sockets, in.CPU.Topology.Cores, in.CPU.Topology.Threads} {
			if f != nil {
				if *f < 1 || *f > 1024 {
					return p, badRequestf("Each factor of the CPU topology must be between 1 and 1024.")
				}
				n *= int64(*f)
			}
		}
		if n < 1 || n > 1024 {
			return p, badRequestf("The CPU topology must give 1 to 1024 vCPUs.")
		}
		v := int(n)
		p.VCPUs = &v
	}
	if o := in.OS; o != nil {
		p.OSType, p.Kernel, p.Initrd, p.Cmdline = o.Type, o.Kernel, o.Initrd, o.Cmdline
	}
	if in.IO != nil && in.IO.Threads != nil {
		v := int(*in.IO.Threads)
		p.IOThreads = &v
	}
	p.VirtioSCSIEnabled = in.VirtioSCSI.IsEnabled()
	if q, err := multiQueues(in); err != nil {
		return p, err
	} else if q != nil {
		p.VirtioSCSIMultiQueues = q
	}
	return p, nil
}

// multiQueues maps API 4.5's pair onto govirt's -1 (auto), 0 (off), N.
func multiQueues(in ovirt.VM) (*int, error) {
	en, n := in.VirtioSCSIMultiQueuesEnabled, in.VirtioSCSIMultiQueues
	switch {
	case en == nil && n == nil:
		return nil, nil
	case en != nil && !bool(*en):
		v := 0
		return &v, nil
	case n != nil:
		if *n < 1 {
			return nil, badRequestf("virtio_scsi_multi_queues must be at least 1.")
		}
		v := int(*n)
		return &v, nil
	}
	v := -1
	return &v, nil
}

func (s *Server) listVMs(c *call) (int, any, error) {
	o, err := c.listOptions()
	if err != nil {
		return 0, nil, err
	}
	var vms []model.VM
	if err := s.st.View(c.ctx, func(tx store.Tx) error {
		vms, err = tx.ListVMs(c.ctx, store.ListOptions{Name: o.Name})
		return err
	}); err != nil {
		return 0, nil, err
	}
	// Filter outside the read transaction: the check reads the store itself.
	shown, err := keepPage(c, vms, o.Max, func(vm model.VM) []Object { return []Object{{Type: "vm", ID: vm.ID}} })
	if err != nil {
		return 0, nil, err
	}
	follow, err := c.follows()
	if err != nil {
		return 0, nil, err
	}
	out := ovirt.VMs{VMs: []ovirt.VM{}}
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		scsi := map[string]bool{}
		if len(shown) > 0 {
			var err error
			if scsi, err = tx.VMsWithDevice(c.ctx, model.DeviceVirtioSCSI, ""); err != nil {
				return err
			}
		}
		for _, vm := range shown {
			out.VMs = append(out.VMs, vmToWire(vmView{vm: vm, virtioSCSI: scsi[vm.ID]}))
		}
		if follow {
			return s.inlineAttachments(c, tx, out.VMs)
		}
		return nil
	})
	return http.StatusOK, out, err
}

// readVM loads a VM the caller may see; others are 404 like missing ones.
func (s *Server) readVM(c *call, id string) (vmView, error) {
	var v vmView
	if ok, err := c.visible(Object{Type: "vm", ID: id}); err != nil || !ok {
		if err != nil {
			return v, err
		}
		return v, notFoundf("Entity not found: vm %s", id)
	}
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		vm, err := tx.GetVM(c.ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFoundf("Entity not found: vm %s", id)
		}
		if err != nil {
			return err
		}
		v, err = s.loadVMView(c, tx, vm)
		return err
	})
	return v, err
}

func (s *Server) getVM(c *call) (int, any, error) {
	v, err := s.readVM(c, c.id("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, vmToWire(v), nil
}

func (s *Server) addVM(c *call) (int, any, error) {
	var in ovirt.VM
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Name == nil || strings.TrimSpace(*in.Name) == "" {
		return 0, nil, badRequestf("vm.name is required.")
	}
	p, err := vmParams(in)
	if err != nil {
		return 0, nil, err
	}
	clusterID, err := s.resolveCluster(c, in.Cluster)
	if err != nil {
		return 0, nil, err
	}
	p.ClusterID = &clusterID
	if err := checkTemplate(in.Template); err != nil {
		return 0, nil, err
	}
	if err := c.require(agCreateVM, Object{Type: "cluster", ID: clusterID}); err != nil {
		return 0, nil, err
	}
	vm, err := s.eng.AddVM(c.ctx, p)
	if err != nil {
		return 0, nil, err
	}
	v, err := s.readVMAfterWrite(c, vm.ID)
	return http.StatusCreated, v, err
}

// readVMAfterWrite renders a VM the caller just changed, without the
// visibility check (a creator sees what it created).
func (s *Server) readVMAfterWrite(c *call, id string) (ovirt.VM, error) {
	var out ovirt.VM
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		vm, err := tx.GetVM(c.ctx, id)
		if err != nil {
			return err
		}
		v, err := s.loadVMView(c, tx, vm)
		out = vmToWire(v)
		return err
	})
	return out, err
}

// checkTemplate accepts only the Blank template (absent means Blank).
func checkTemplate(t *ovirt.Ref) error {
	if t == nil || t.ID == engine.BlankTemplateID || t.ID == "" && t.Name != nil && *t.Name == "Blank" {
		return nil
	}
	return notFoundf("Entity not found: template %s", refLabel(t))
}

func refLabel(r *ovirt.Ref) string {
	if r.ID != "" {
		return r.ID
	}
	if r.Name != nil {
		return *r.Name
	}
	return "(none)"
}

// resolveCluster finds a cluster by id or name.
func (s *Server) resolveCluster(c *call, r *ovirt.Ref) (string, error) {
	if r == nil || r.ID == "" && r.Name == nil {
		return "", badRequestf("vm.cluster (id or name) is required.")
	}
	var id string
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		if r.ID != "" {
			cl, err := tx.GetCluster(c.ctx, r.ID)
			id = cl.ID
			return err
		}
		cls, err := tx.ListClusters(c.ctx, store.ListOptions{Name: *r.Name})
		if err != nil {
			return err
		}
		for _, cl := range cls {
			if cl.Name == *r.Name {
				id = cl.ID
			}
		}
		if id == "" {
			return store.ErrNotFound
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return "", notFoundf("Entity not found: cluster %s", refLabel(r))
	}
	return id, err
}

func (s *Server) updateVM(c *call) (int, any, error) {
	var in ovirt.VM
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	p, err := vmParams(in)
	if err != nil {
		return 0, nil, err
	}
	if in.Cluster != nil && in.Cluster.ID != "" {
		p.ClusterID = &in.Cluster.ID
	}
	vm, err := s.eng.UpdateVM(c.ctx, c.id("id"), p)
	if err != nil {
		return 0, nil, err
	}
	v, err := s.readVMAfterWrite(c, vm.ID)
	return http.StatusOK, v, err
}

func (s *Server) removeVM(c *call) (int, any, error) {
	removeDisks := !c.queryBool("detach_only")
	return http.StatusOK, nil, s.eng.RemoveVM(c.ctx, c.id("id"), removeDisks)
}

// vmAction runs start, stop or shutdown and answers with oVirt's action.
func (s *Server) vmAction(c *call, run func(in ovirt.Action) (model.VM, error)) (int, any, error) {
	var in ovirt.Action
	if len(strings.TrimSpace(c.r.Header.Get("Content-Length"))) > 0 && c.r.ContentLength > 0 {
		if err := c.decode(&in); err != nil {
			return 0, nil, err
		}
	}
	vm, err := run(in)
	if err != nil {
		return 0, nil, err
	}
	w, err := s.readVMAfterWrite(c, vm.ID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ovirt.Action{Status: "complete", VM: &w}, nil
}

// startVM runs a VM; <vm><placement_policy><hosts> in the action names
// the hosts it may start on, by id or name, in order of preference.
func (s *Server) startVM(c *call) (int, any, error) {
	return s.vmAction(c, func(in ovirt.Action) (model.VM, error) {
		var preferred []string
		if in.VM != nil && in.VM.PlacementPolicy != nil && in.VM.PlacementPolicy.Hosts != nil {
			for _, r := range in.VM.PlacementPolicy.Hosts.Hosts {
				if r.ID == "" && r.Name == nil {
					return model.VM{}, badRequestf("A placement_policy host needs an id or a name.")
				}
				id, err := resolveRef(c, hosts, &r)
				if err != nil {
					return model.VM{}, err
				}
				preferred = append(preferred, id)
			}
		}
		return s.eng.RunVMOn(c.ctx, c.id("id"), preferred)
	})
}

func (s *Server) stopVM(c *call) (int, any, error) {
	return s.vmAction(c, func(ovirt.Action) (model.VM, error) { return s.eng.StopVM(c.ctx, c.id("id")) })
}

// migrateVM live-migrates a running VM, to the action's <host> (by id or
// name) or, without one, to the host the scheduler picks in its cluster.
func (s *Server) migrateVM(c *call) (int, any, error) {
	return s.vmAction(c, func(in ovirt.Action) (model.VM, error) {
		dest := ""
		if in.Host != nil {
			if in.Host.ID == "" && (in.Host.Name == nil || *in.Host.Name == "") {
				return model.VM{}, badRequestf("The destination host needs an id or a name.")
			}
			id, err := resolveRef(c, hosts, in.Host)
			if err != nil {
				return model.VM{}, err
			}
			dest = id
		}
		return s.eng.MigrateVM(c.ctx, c.id("id"), dest)
	})
}

func (s *Server) shutdownVM(c *call) (int, any, error) {
	return s.vmAction(c, func(ovirt.Action) (model.VM, error) { return s.eng.ShutdownVM(c.ctx, c.id("id"), 0) })
}
