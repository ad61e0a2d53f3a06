package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

const guestAgentTimeout = 10 * time.Second

// guestCommand runs one guest-agent command and decodes its "return" value.
func (a *Agent) guestCommand(ctx context.Context, vmID string, cmd string, args any, ret any) error {
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	out, err := a.hv.AgentCommand(ctx, vmID, string(b), guestAgentTimeout)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	var env struct {
		Return json.RawMessage `json:"return"`
	}
	if err := json.Unmarshal([]byte(out), &env); err != nil {
		return fmt.Errorf("%w: %s: bad reply %q", ErrGuestAgent, cmd, out)
	}
	if ret == nil {
		return nil
	}
	if err := json.Unmarshal(env.Return, ret); err != nil {
		return fmt.Errorf("%w: %s: bad reply %q", ErrGuestAgent, cmd, out)
	}
	return nil
}

// GuestDisks asks the guest agent which disks the guest sees. The serial is
// what identifies a disk: addresses reported by qemu-ga are not reliable.
func (a *Agent) GuestDisks(ctx context.Context, vmID string) ([]GuestDisk, error) {
	if err := a.checkOwned(ctx, vmID); err != nil {
		return nil, err
	}
	var disks []struct {
		Name      string `json:"name"`
		Partition bool   `json:"partition"`
		Address   *struct {
			BusType string `json:"bus-type"`
			Bus     uint32 `json:"bus"`
			Target  uint32 `json:"target"`
			Unit    uint32 `json:"unit"`
			Serial  string `json:"serial"`
			Dev     string `json:"dev"`
		} `json:"address"`
	}
	if err := a.guestCommand(ctx, vmID, "guest-get-disks", nil, &disks); err != nil {
		return nil, err
	}
	var out []GuestDisk
	for _, d := range disks {
		if d.Partition {
			continue
		}
		g := GuestDisk{Name: d.Name}
		if ad := d.Address; ad != nil {
			g.Serial, g.BusType, g.Bus, g.Target, g.Unit = ad.Serial, ad.BusType, ad.Bus, ad.Target, ad.Unit
			if ad.Dev != "" {
				g.Name = ad.Dev
			}
		}
		out = append(out, g)
	}
	return out, nil
}

// GuestExec runs a program in the guest and returns its exit code and output.
func (a *Agent) GuestExec(ctx context.Context, vmID, path string, args []string, stdin []byte, timeout time.Duration) (ExecResult, error) {
	if err := a.checkOwned(ctx, vmID); err != nil {
		return ExecResult{}, err
	}
	if timeout <= 0 {
		timeout = time.Minute
	}
	req := map[string]any{"path": path, "arg": args, "capture-output": true}
	if len(stdin) > 0 {
		req["input-data"] = base64.StdEncoding.EncodeToString(stdin)
	}
	var started struct {
		PID int `json:"pid"`
	}
	if err := a.guestCommand(ctx, vmID, "guest-exec", req, &started); err != nil {
		return ExecResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for delay := 20 * time.Millisecond; ; delay = min(delay*2, 500*time.Millisecond) {
		var st struct {
			Exited   bool   `json:"exited"`
			ExitCode int    `json:"exitcode"`
			Signal   int    `json:"signal"`
			OutData  string `json:"out-data"`
			ErrData  string `json:"err-data"`
		}
		if err := a.guestCommand(ctx, vmID, "guest-exec-status", map[string]any{"pid": started.PID}, &st); err != nil {
			return ExecResult{}, err
		}
		if st.Exited {
			res := ExecResult{ExitCode: st.ExitCode}
			if st.Signal != 0 {
				res.ExitCode = 128 + st.Signal
			}
			res.Stdout, _ = base64.StdEncoding.DecodeString(st.OutData)
			res.Stderr, _ = base64.StdEncoding.DecodeString(st.ErrData)
			return res, nil
		}
		select {
		case <-ctx.Done():
			return ExecResult{}, fmt.Errorf("%w: %s did not finish in %s", ErrGuestAgent, path, timeout)
		case <-time.After(delay):
		}
	}
}
