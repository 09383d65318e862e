package nodestatus

import "syscall"

// statfsSize is the total size in bytes of the filesystem holding path.
func statfsSize(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Blocks) * int64(st.Bsize), nil
}
