package divert_test

import (
	"io"
	"net"
	"sync"
	"testing"
)

// The cost of the queue on loopback TCP: "direct" connects to the target
// port, "queued" to the front port, through NFQUEUE and a reader that
// parses every packet and accepts it (the guard's work minus its policy).
// packets/s counts the packets the reader handled.

func BenchmarkPingPong48(b *testing.B) {
	for _, queued := range []bool{false, true} {
		b.Run(mode(queued), func(b *testing.B) {
			client, server, g := benchConn(b, queued)
			go func() {
				buf := make([]byte, 48)
				for {
					if _, err := io.ReadFull(server, buf); err != nil {
						return
					}
					if _, err := server.Write(buf); err != nil {
						return
					}
				}
			}()
			req, resp := make([]byte, 48), make([]byte, 48)
			before := g.count()
			for b.Loop() {
				if _, err := client.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(client, resp); err != nil {
					b.Fatal(err)
				}
			}
			g.report(b, before)
		})
	}
}

// Eight connections through one queue, each one 48-byte request in
// flight: the reader's rate for small packets (commands at queue depth 8).
func BenchmarkPingPong48x8(b *testing.B) {
	for _, queued := range []bool{false, true} {
		b.Run(mode(queued), func(b *testing.B) {
			s := newSetup(b, "127.0.0.1")
			var g *guard
			addr := s.target.Addr().String()
			if queued {
				g = startGuard(b, s.d)
				addr = s.front()
			}
			go func() {
				for {
					c, err := s.target.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						buf := make([]byte, 48)
						for {
							if _, err := io.ReadFull(c, buf); err != nil {
								return
							}
							if _, err := c.Write(buf); err != nil {
								return
							}
						}
					}()
				}
			}()
			const conns = 8
			var clients []net.Conn
			for range conns {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { c.Close() })
				clients = append(clients, c)
			}
			before := g.count()
			b.ResetTimer()
			var wg sync.WaitGroup
			errs := make(chan error, conns)
			for i, c := range clients {
				n := b.N / conns
				if i < b.N%conns {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, resp := make([]byte, 48), make([]byte, 48)
					for range n {
						if _, err := c.Write(req); err != nil {
							errs <- err
							return
						}
						if _, err := io.ReadFull(c, resp); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			g.report(b, before)
		})
	}
}

func BenchmarkStream(b *testing.B) {
	for _, size := range []int{48, 64 << 10} {
		for _, queued := range []bool{false, true} {
			b.Run(sizeName(size)+"/"+mode(queued), func(b *testing.B) {
				client, server, g := benchConn(b, queued)
				done := make(chan int64)
				go func() {
					n, _ := io.Copy(io.Discard, server)
					done <- n
				}()
				buf := make([]byte, size)
				b.SetBytes(int64(size))
				before := g.count()
				for b.Loop() {
					if _, err := client.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				client.(*net.TCPConn).CloseWrite()
				if n := <-done; n != int64(b.N)*int64(size) {
					b.Fatalf("target received %d bytes, want %d", n, int64(b.N)*int64(size))
				}
				g.report(b, before)
			})
		}
	}
}

func mode(queued bool) string {
	if queued {
		return "queued"
	}
	return "direct"
}

func sizeName(n int) string {
	if n >= 1024 {
		return "write" + itoa(n>>10) + "KiB"
	}
	return "write" + itoa(n) + "B"
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// benchConn connects a client to the target, through the queue or not.
func benchConn(b *testing.B, queued bool) (client, server net.Conn, g *guard) {
	b.Helper()
	s := newSetup(b, "127.0.0.1")
	if queued {
		g = startGuard(b, s.d)
		client, server = s.connect(b)
		return client, server, g
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := s.target.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	client, err := net.Dial("tcp", s.target.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	server = <-accepted
	b.Cleanup(func() { client.Close(); server.Close() })
	return client, server, nil
}

func (g *guard) count() int64 {
	if g == nil {
		return 0
	}
	return g.packets.Load()
}

func (g *guard) report(b *testing.B, before int64) {
	if g == nil {
		return
	}
	n := g.packets.Load() - before
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(float64(n)/float64(b.N), "packets/op")
}
