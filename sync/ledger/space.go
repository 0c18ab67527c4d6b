package ledger

import (
	"fmt"
	"syscall"
)

// FreeSpace returns the bytes an unprivileged process may still write on the
// file system holding dir (statfs f_bavail × f_bsize). The till checks it
// to refuse insurance sales before the ledger's disk is full (README, "Durability").
func FreeSpace(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("ledger: free space of %s: %w", dir, err)
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
