// Package storage is kubeshim's in-memory MVCC implementation of
// k8s.io/apiserver's storage.Interface, the backend the generic registry
// stores resources in when no etcd is configured.
//
// One Backend is one keyspace shared by every resource, with a single global,
// monotonic revision (resourceVersion) exactly like etcd: every write (create,
// update, delete, TTL expiry) bumps it by one and produces one event. Keys are
// the full paths etcd3 would see ("/registry/pods/default/nginx").
//
// Each resource gets its own storage.Interface view (codec, newFunc, resource
// prefix) over the shared keyspace, built by Backend.Decorator(), which fits
// generic.RESTOptions.Decorator.
//
// Design:
//   - Values are stored as the codec's encoded bytes (optionally passed through
//     the config's value.Transformer), so stored state is compact and immutable;
//     every read decodes a fresh object, nothing returned aliases stored state.
//   - The keyspace is a copy-on-write B-tree of immutable records; each record
//     keeps the versions of its key still visible at or after the compaction
//     revision, so lists at an exact past revision and continue tokens work
//     while that revision is inside the history window. Readers work on cheap
//     O(1) snapshots (tree clones) without holding the lock while decoding.
//   - A bounded event log (Options.HistorySize events, and at most
//     Options.HistoryBytes of superseded values) serves watches that start at
//     a past revision. When it overflows the oldest events are compacted; a
//     watch, list or continue token older than the compaction revision gets
//     410 Gone ("too old resource version"), as with etcd3. Backend.Compact
//     compacts explicitly.
//   - Writers never block on watchers: each event is appended to the bounded
//     queue of every matching watcher; a watcher whose consumer falls more than
//     Options.WatchQueueSize events behind is terminated (its result channel is
//     closed) as the apiserver's watch cache does, and the client resumes from
//     its last resourceVersion out of the event log.
//
// Durability (OpenWAL; NewBackend is purely in memory): every committed write
// (create, update, delete, TTL expiry, with its revision) is appended to a
// write-ahead log in the directory, framed as length + CRC-32C + record (see
// walformat.go), and acknowledged only after an fsync. Group commit: writes
// are appended in revision order under the backend lock; one flusher
// goroutine writes and fsyncs a batch at a time, and the writes that arrive
// while an fsync runs share the next one. A write is visible to reads,
// lists and watches only once it is durable, so no client ever sees a
// resourceVersion a crash could take back; conditional writes see pending
// writes (they are ordered after them in the log). After SnapshotEvery writes
// or SnapshotBytes of log, the log is cut at the last committed revision, a
// new segment started, and a snapshot of all live keys (from an O(1) tree
// clone) written in the background, installed atomically (rename, directory
// fsync); the segments it covers are then removed. Close writes a final
// snapshot. On open the snapshot is loaded and the log replayed: revisions
// continue, history starts empty (older resourceVersions get 410 Gone), and a
// torn or corrupt record at the tail is dropped with a log line and the file
// truncated there. If a write or fsync fails, the log stops taking writes
// (reads go on), as etcd does.
package storage
