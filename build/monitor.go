package build

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/goldenpipe/goldenpipe"
)

// monitorWorkers bounds the builds advanced at once in one tick.
const monitorWorkers = 8

// Tick advances every build not finished yet, by observation. A build whose
// step fails is reported and left for the next tick; the others go on.
func (s *Service) Tick(ctx context.Context, _ goldenpipe.Tick) (string, error) {
	ids, err := s.active(ctx)
	if err != nil {
		return "", fmt.Errorf("listing active builds: %w", err)
	}
	sort.Strings(ids)
	outcomes := make([]string, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	sem := make(chan struct{}, monitorWorkers)
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			outcomes[i], errs[i] = s.Advance(ctx, id)
		}()
	}
	wg.Wait()
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, err.Error())
			s.log().Warn("advancing a build failed; the next tick tries again", "build", ids[i], "err", err.Error())
		}
	}
	summary := fmt.Sprintf("%d active builds advanced", len(ids))
	if len(failed) > 0 {
		return "", goldenpipe.Errorf(goldenpipe.EUNAVAILABLE, "%s; %d failed: %s", summary, len(failed), strings.Join(failed, "; "))
	}
	return summary, nil
}
