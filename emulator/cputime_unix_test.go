//go:build unix

package emulator

import (
	"syscall"
	"time"
)

// processCPU is the CPU time this process used so far (user + system). The
// benchmarks report CPU per call beside calls/s, because the wall-clock rate
// on a shared 2-core machine says as much about the neighbours as about the
// emulator.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
