package agentrpc

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/govirt/govirt/internal/agent"
	pb "github.com/govirt/govirt/internal/agentrpc/agentpb"
	"github.com/govirt/govirt/internal/vmspec"
)

// MigrationService is optionally implemented by a Service that takes part
// in live migration; without it the migration calls answer Unimplemented.
type MigrationService interface {
	PrepareMigration(ctx context.Context, vm vmspec.VM) (agent.MigrationTarget, error)
	MigrateVM(ctx context.Context, vmID string, to agent.MigrationTarget) error
	FinishIncoming(ctx context.Context, vmID string, ok bool) error
}

// The host agent migrates VMs.
var _ MigrationService = (*agent.Agent)(nil)

func (s *Server) migration() (MigrationService, error) {
	ms, ok := s.svc.(MigrationService)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this agent does not migrate VMs")
	}
	return ms, nil
}

// PrepareMigration readies this host for an incoming migration.
func (s *Server) PrepareMigration(ctx context.Context, req *pb.PrepareMigrationRequest) (*pb.PrepareMigrationReply, error) {
	ms, err := s.migration()
	if err != nil {
		return nil, err
	}
	vm, err := vmFromPB(req.GetVm())
	var t agent.MigrationTarget
	if err == nil {
		t, err = ms.PrepareMigration(ctx, vm)
	}
	if err != nil {
		return nil, s.fail(ctx, "PrepareMigration", err)
	}
	return &pb.PrepareMigrationReply{Uri: t.URI, DomainXml: t.DomainXML}, nil
}

// MigrateVM live-migrates a VM of this host to a prepared destination.
func (s *Server) MigrateVM(ctx context.Context, req *pb.MigrateVMRequest) (*pb.MigrateVMReply, error) {
	ms, err := s.migration()
	if err != nil {
		return nil, err
	}
	if req.GetUri() == "" || req.GetDomainXml() == "" {
		return nil, s.fail(ctx, "MigrateVM", badMessage("missing uri or domain_xml"))
	}
	if err := ms.MigrateVM(ctx, req.GetVmId(), agent.MigrationTarget{URI: req.GetUri(), DomainXML: req.GetDomainXml()}); err != nil {
		return nil, s.fail(ctx, "MigrateVM", err)
	}
	return &pb.MigrateVMReply{}, nil
}

// FinishIncoming keeps or drops an incoming migration.
func (s *Server) FinishIncoming(ctx context.Context, req *pb.FinishIncomingRequest) (*pb.FinishIncomingReply, error) {
	ms, err := s.migration()
	if err != nil {
		return nil, err
	}
	if err := ms.FinishIncoming(ctx, req.GetVmId(), req.GetOk()); err != nil {
		return nil, s.fail(ctx, "FinishIncoming", err)
	}
	return &pb.FinishIncomingReply{}, nil
}

// PrepareMigration asks the destination agent to ready an incoming
// migration of vm.
func (c *Client) PrepareMigration(ctx context.Context, vm vmspec.VM) (agent.MigrationTarget, error) {
	r, err := c.rpc.PrepareMigration(ctx, &pb.PrepareMigrationRequest{Vm: vmToPB(vm)})
	if err != nil {
		return agent.MigrationTarget{}, wrap("PrepareMigration", err)
	}
	return agent.MigrationTarget{URI: r.GetUri(), DomainXML: r.GetDomainXml()}, nil
}

// MigrateVM asks the source agent to live-migrate a VM to the prepared
// target; it returns once the VM runs there.
func (c *Client) MigrateVM(ctx context.Context, vmID string, to agent.MigrationTarget) error {
	req := &pb.MigrateVMRequest{VmId: vmID, Uri: to.URI, DomainXml: to.DomainXML}
	if _, err := c.rpc.MigrateVM(ctx, req); err != nil {
		return wrap("MigrateVM", err)
	}
	return nil
}

// FinishIncoming tells the destination agent whether the migration
// succeeded: it keeps the VM, or undoes what it prepared.
func (c *Client) FinishIncoming(ctx context.Context, vmID string, ok bool) error {
	if _, err := c.rpc.FinishIncoming(ctx, &pb.FinishIncomingRequest{VmId: vmID, Ok: ok}); err != nil {
		return wrap("FinishIncoming", err)
	}
	return nil
}
