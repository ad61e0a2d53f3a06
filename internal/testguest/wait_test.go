package testguest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func inventoryBlock(seq int, serials ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GOVIRT-INVENTORY BEGIN seq=%d count=%d\n", seq, len(serials))
	for i, s := range serials {
		fmt.Fprintf(&b, "GOVIRT-DISK seq=%d name=sd%c hctl=0:0:%d:0 vendor=QEMU model=QEMU_HARDDISK serial=%s size=512\n",
			seq, 'a'+i, i, s)
	}
	fmt.Fprintf(&b, "GOVIRT-INVENTORY END seq=%d\n", seq)
	return b.String()
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func hasSerial(s string) func(Inventory) bool {
	return func(inv Inventory) bool { _, ok := inv.BySerial(s); return ok }
}

func TestWaitInventoryFollowsGrowingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		// The file appears late and lines arrive in pieces, as from a UART.
		time.Sleep(100 * time.Millisecond)
		appendFile(t, path, "SeaBIOS\nGOVIRT-READY\n"+inventoryBlock(1, "a"))
		time.Sleep(100 * time.Millisecond)
		block := inventoryBlock(2, "a", "b")
		appendFile(t, path, block[:40])
		time.Sleep(100 * time.Millisecond)
		appendFile(t, path, block[40:])
	}()
	if err := WaitReady(ctx, path); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	inv, err := WaitInventory(ctx, path, hasSerial("b"))
	if err != nil {
		t.Fatalf("WaitInventory: %v", err)
	}
	if inv.Seq != 2 || len(inv.Disks) != 2 {
		t.Errorf("got %v, want seq 2 with two disks", inv)
	}
}

func TestWaitInventoryUsesOnlyTheLatest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	// Disk b came and went: waiting for "b gone" must not be satisfied by
	// seq 1 (before b came), nor waiting for "b present" by seq 2 once
	// seq 3 is there.
	appendFile(t, path, inventoryBlock(1, "a")+inventoryBlock(2, "a", "b")+inventoryBlock(3, "a"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	inv, err := WaitInventory(ctx, path, func(inv Inventory) bool { return !hasSerial("b")(inv) })
	if err != nil || inv.Seq != 3 {
		t.Fatalf("WaitInventory(b gone) = %v, %v; want seq 3", inv, err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if inv, err := WaitInventory(short, path, hasSerial("b")); err == nil {
		t.Fatalf("WaitInventory(b present) = %v, want a timeout", inv)
	}
}

func TestWaitInventoryErrorExplains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	var log strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&log, "kernel line %d\n", i)
	}
	appendFile(t, path, inventoryBlock(5, "only")+log.String()+"half a line")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := WaitInventory(ctx, path, hasSerial("never"))
	if err == nil {
		t.Fatal("WaitInventory succeeded, want a timeout")
	}
	msg := err.Error()
	for _, want := range []string{"context deadline exceeded", "seq=5", `serial="only"`,
		"kernel line 39", "half a line (no newline yet)", "last 30 console lines"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "kernel line 9\n") {
		t.Errorf("error quotes more than the last lines:\n%s", msg)
	}
}

func TestWaitReadyMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "never.log")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	err := WaitReady(ctx, path)
	if err == nil || !strings.Contains(err.Error(), "never appeared") {
		t.Fatalf("WaitReady = %v, want an error saying the log never appeared", err)
	}
}

func TestWaitInventoryRestartsOnTruncation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	appendFile(t, path, strings.Repeat("old boot noise\n", 100)+inventoryBlock(9, "old"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		time.Sleep(150 * time.Millisecond)
		if err := os.WriteFile(path, []byte(inventoryBlock(1, "new")), 0o644); err != nil {
			t.Error(err)
		}
	}()
	inv, err := WaitInventory(ctx, path, hasSerial("new"))
	if err != nil || inv.Seq != 1 {
		t.Fatalf("WaitInventory = %v, %v; want seq 1 of the new boot", inv, err)
	}
}

// TestWaitInventoryFollowsRotation: virtlogd renames a console log that
// reached its size limit to NAME.0 (an earlier NAME.0 to NAME.1) and
// starts NAME afresh; an inventory that straddles the rotation, as one of
// 16,383 disks (2.3 MB) must, is read whole.
func TestWaitInventoryFollowsRotation(t *testing.T) {
	for _, twice := range []bool{false, true} {
		t.Run(fmt.Sprintf("twice=%v", twice), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "console.log")
			serials := make([]string, 300)
			for i := range serials {
				serials[i] = fmt.Sprintf("disk-%03d", i)
			}
			block := inventoryBlock(1, serials...)
			cut1, cut2 := len(block)/3, 2*len(block)/3
			appendFile(t, path, "GOVIRT-READY\n"+block[:cut1/2])
			f := &follower{path: path}
			if _, err := f.read(); err != nil {
				t.Fatal(err)
			}
			rotate := func() {
				t.Helper()
				if _, err := os.Stat(path + ".0"); err == nil {
					if err := os.Rename(path+".0", path+".1"); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Rename(path, path+".0"); err != nil {
					t.Fatal(err)
				}
			}
			// More lands in the old file after the last read, then it goes.
			appendFile(t, path, block[cut1/2:cut1])
			rotate()
			appendFile(t, path, block[cut1:cut2])
			if twice {
				rotate()
			} else if _, err := f.read(); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, block[cut2:])
			if _, err := f.read(); err != nil {
				t.Fatal(err)
			}
			if f.last == nil || len(f.last.Disks) != len(serials) {
				t.Fatalf("inventory across the rotation: %v, want all %d disks", f.last, len(serials))
			}
		})
	}
}

func TestLatestInventory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "console.log")
	if _, ok, err := LatestInventory(p); ok || err != nil {
		t.Fatalf("no console yet: ok %v err %v", ok, err)
	}
	log := "GOVIRT-READY\n" +
		"GOVIRT-INVENTORY BEGIN seq=1 count=1\n" +
		"GOVIRT-DISK seq=1 name=sda hctl=0:0:0:1 vendor=QEMU model=QEMU_HARDDISK serial=aaa size=1\n" +
		"GOVIRT-INVENTORY END seq=1\n" +
		"Segmentation fault\n" +
		"GOVIRT-INVENTORY BEGIN seq=2 count=0\n" +
		"GOVIRT-INVENTORY END seq=2\n" +
		"GOVIRT-INVENTORY BEGIN seq=3 count=1\n" // incomplete: not counted
	if err := os.WriteFile(p, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, ok, err := LatestInventory(p)
	if err != nil || !ok || inv.Seq != 2 || len(inv.Disks) != 0 {
		t.Fatalf("latest: %+v ok %v err %v, want the empty seq 2", inv, ok, err)
	}
}
