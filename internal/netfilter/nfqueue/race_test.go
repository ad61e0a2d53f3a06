//go:build race

package nfqueue

func init() { raceEnabled = true }
