// Command guest builds govirt's test guest (package internal/testguest) into
// its cache directory and prints where the kernel and initrd are, so that a
// developer can boot it by hand:
//
//	go run ./tools/guest [-cache DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/govirt/govirt/internal/testguest"
)

func main() {
	cache := flag.String("cache", testguest.DefaultCacheDir(), "cache directory for built images")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	img, err := testguest.Build(ctx, testguest.BuildOptions{CacheDir: *cache, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "guest:", err)
		os.Exit(1)
	}
	fmt.Printf("kernel  %s\ninitrd  %s\ncmdline %s\n", img.Kernel, img.Initrd, img.Cmdline)
}
