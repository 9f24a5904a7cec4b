// Package daemonlog reads what integrationsd says about itself in its JSON log,
// for the programs that start it (the benchmark, tests): where it serves when
// it was told to pick its own ports. Ports picked free beforehand and passed
// in can be taken by another process before integrationsd binds them.
package daemonlog

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// ServingMessage is what integrationsd logs, with the addresses it bound, once
// it listens.
const ServingMessage = "integrationsd serving"

// Addresses are where integrationsd serves.
type Addresses struct {
	GRPC string `json:"grpc"`
	HTTP string `json:"http"`
}

// WaitServing polls the JSON log at path until integrationsd has logged where
// it serves, or ctx ends.
func WaitServing(ctx context.Context, path string) (Addresses, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		content, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			return Addresses{}, err
		}
		for line := range strings.Lines(string(content)) {
			var entry struct {
				Msg string `json:"msg"`
				Addresses
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == ServingMessage {
				return entry.Addresses, nil
			}
		}
		select {
		case <-ctx.Done():
			return Addresses{}, fmt.Errorf("integrationsd did not log where it serves: %w", ctx.Err())
		case <-tick.C:
		}
	}
}
