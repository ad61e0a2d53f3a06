package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/govirt/govirt/internal/iscsi/initiator"
	"github.com/govirt/govirt/internal/iscsi/pdu"
	"github.com/govirt/govirt/internal/scsipolicy"
)

const allDigests = "HeaderDigest=CRC32C\x00DataDigest=CRC32C\x00ImmediateData=Yes\x00InitialR2T=No\x00MaxRecvDataSegmentLength=8192\x00"

// startFake runs a fake target on loopback.
func startFake(t *testing.T, ft *fakeTarget) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); ft.serve(c) }()
		}
	}()
	return ln.Addr().String()
}

func TestProxyOverSockets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ft := &fakeTarget{answer: allDigests, block: 0xab}
	p, err := Start(ctx, Config{Target: startFake(t, ft)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	c, err := initiator.Dial(ctx, p.Addr().String(), initiator.Options{TargetName: "iqn.fake", HeaderDigest: true, DataDigest: true,
		ImmediateData: true, Unsolicited: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if got := c.Params(); !got.HeaderDigest || !got.DataDigest || got.InitialR2T {
		t.Fatalf("negotiated %+v", got)
	}
	lun := initiator.LUN(1)
	do := func(cdb, out []byte, in int) *initiator.Result {
		t.Helper()
		r, err := c.Command(ctx, lun, cdb, out, in)
		if err != nil {
			t.Fatalf("% x: %v", cdb, err)
		}
		return r
	}
	if r := do([]byte{0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0}, nil, 4096); r.Status != 0 || !bytes.Equal(r.Data, bytes.Repeat([]byte{0xab}, 4096)) {
		t.Errorf("READ(10): %v", r)
	}
	// 20480 bytes: 8192 as immediate data, the rest in two unsolicited
	// Data-Out PDUs (InitialR2T=No, MaxRecvDataSegmentLength 8192).
	if r := do([]byte{0x2a, 0, 0, 0, 0, 0, 0, 0, 40, 0}, make([]byte, 20480), 0); r.Status != 0 {
		t.Errorf("WRITE(10): %v", r)
	}
	cdb32 := make([]byte, 32)
	cdb32[0], cdb32[7], cdb32[9] = 0x7f, 0x18, 0x0d
	refused := []struct {
		name string
		cdb  []byte
		out  []byte
		in   int
	}{
		{"PR OUT register", prOutRegister, make([]byte, 24), 0},
		{"WRITE BUFFER with unsolicited data", []byte{0x3b, 0x05, 0, 0, 0, 0, 0, 0x80, 0}, make([]byte, 32768), 0},
		{"FORMAT UNIT", []byte{0x04}, nil, 0},
		{"vendor 0xc0 read", []byte{0xc0}, nil, 512},
		{"WRITE SAME(32)", cdb32, make([]byte, 512), 0},
	}
	for _, rc := range refused {
		r := do(rc.cdb, rc.out, rc.in)
		if key, asc, ascq := r.SenseKey(); r.Status != pdu.StatusCheckCondition || key != 5 || asc != 0x20 || ascq != 0 || len(r.Data) != 0 {
			t.Errorf("%s: %v, want CHECK CONDITION 5/20/00 without data", rc.name, r)
		}
	}
	if r := do([]byte{0x12, 0, 0, 0, 36, 0}, nil, 36); r.Status != 0 {
		t.Errorf("INQUIRY after refusals: %v", r)
	}
	assertNothingRefusedReached(t, ft, scsipolicy.Filtered())
	if s := p.Stats(); s.Refused != uint64(len(refused)) || s.Commands != 8 || s.Connections != 1 || s.LastRefused.Code != 0x7f {
		t.Errorf("stats %+v", s)
	}
	ft.mu.Lock()
	nDataOut := len(ft.dataOuts)
	ft.mu.Unlock()
	if nDataOut != 2 { // the allowed write's unsolicited Data-Out PDUs (12288 bytes in 8192-byte PDUs)
		t.Errorf("target saw %d Data-Out PDUs, want the allowed write's 2", nDataOut)
	}

	// Swapped live: the same session now passes PR OUT.
	p.SetPolicy(scsipolicy.Unfiltered())
	if r := do(prOutRegister, make([]byte, 24), 0); r.Status != 0 {
		t.Errorf("PR OUT after the swap to unfiltered: %v", r)
	}
	last := ft.recorded()[len(ft.recorded())-1]
	if last.cdb[0] != 0x5f || last.immediate != 24 {
		t.Errorf("target did not receive PR OUT with its data: %+v", last)
	}
}

// assertNothingRefusedReached checks every command the target saw against
// the policy.
func assertNothingRefusedReached(t *testing.T, ft *fakeTarget, pol *scsipolicy.Policy) {
	t.Helper()
	for _, r := range ft.recorded() {
		if d := pol.Decide(r.cdb[:]); !d.Allow {
			t.Errorf("target received refused %s (ITT %#x)", d.Op.Name(), r.itt)
		}
	}
}

// seedStream is an initiator's side of a session: login, then allowed and
// refused commands with immediate data, unsolicited Data-Out, a 32-byte CDB,
// task management for a refused task, and a NOP-Out.
func seedStream(digests bool) []byte {
	var d pdu.Digests
	var b []byte
	enc := func(p *pdu.PDU) { b, _ = p.Encode(b, d) }
	var login pdu.PDU
	login.SetOpcode(pdu.OpLoginReq, true)
	login.BHS[1] = pdu.FlagTransit | 1<<2 | 3
	offer := "None"
	if digests {
		offer = "CRC32C"
	}
	login.Data = []byte("HeaderDigest=" + offer + "\x00DataDigest=" + offer + "\x00")
	enc(&login)
	d = pdu.Digests{Header: digests, Data: digests}
	enc(command(1, pdu.FlagFinal|pdu.FlagRead, []byte{0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 512, nil))
	enc(command(2, pdu.FlagWrite, prOutRegister, 4096, make([]byte, 24)))
	out := &pdu.PDU{}
	out.SetOpcode(pdu.OpDataOut, false)
	out.BHS[1] = pdu.FlagFinal
	out.SetU32(pdu.OffITT, 2)
	out.SetU32(pdu.OffField1, 0xffffffff)
	out.Data = make([]byte, 100)
	enc(out)
	cdb32 := make([]byte, 32)
	cdb32[0], cdb32[9] = 0x7f, 0x0d
	enc(command(3, pdu.FlagFinal|pdu.FlagWrite, cdb32, 512, make([]byte, 512)))
	tmf := &pdu.PDU{}
	tmf.SetOpcode(pdu.OpTaskMgmtReq, true)
	tmf.BHS[1] = pdu.FlagFinal | 1 // ABORT TASK
	tmf.SetU32(pdu.OffITT, 4)
	tmf.SetU32(pdu.OffField1, 2)
	enc(tmf)
	enc(command(5, pdu.FlagFinal|pdu.FlagWrite, []byte{0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 512, make([]byte, 512)))
	enc(command(6, pdu.FlagFinal, []byte{0xff}, 0, nil))
	nop := &pdu.PDU{}
	nop.SetOpcode(pdu.OpNOPOut, true)
	nop.BHS[1] = pdu.FlagFinal
	nop.SetU32(pdu.OffITT, 7)
	enc(nop)
	return b
}

// FuzzProxy throws PDU streams at the proxy's relay with a recording fake
// target behind it: the relay must not panic or hang, and the target must
// never receive a command the filtered policy refuses.
func FuzzProxy(f *testing.F) {
	f.Add(seedStream(false), false)
	f.Add(seedStream(true), true)
	f.Fuzz(func(t *testing.T, stream []byte, digests bool) {
		answer := "HeaderDigest=None\x00DataDigest=None\x00"
		if digests {
			answer = "HeaderDigest=CRC32C\x00DataDigest=CRC32C\x00"
		}
		ft := &fakeTarget{answer: answer}
		p := &Proxy{log: discardLogger()}
		p.policy.Store(scsipolicy.Filtered())
		client, proxySide := net.Pipe()
		proxyTarget, targetSide := net.Pipe()
		targetDone := make(chan struct{})
		go func() { ft.serve(targetSide); close(targetDone) }()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		relayDone := make(chan struct{})
		go func() { _ = p.relay(proxySide, proxyTarget); close(relayDone) }()
		_, _ = client.Write(stream)
		_ = client.Close()
		select {
		case <-relayDone:
		case <-time.After(10 * time.Second):
			t.Fatal("relay did not end after the initiator closed")
		}
		<-targetDone
		assertNothingRefusedReached(t, ft, scsipolicy.Filtered())
	})
}
