package storage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// On-disk format of the write-ahead log and of snapshots.
//
// Both files are sequences of frames:
//
//	frame   = length:uint32le crc:uint32le payload[length]
//	crc     = CRC-32C (Castagnoli) of payload
//	payload = type:byte fields...
//
// Integers in payloads are (u)varints; a key is its uvarint length and bytes;
// a value is the rest of the payload. Record types:
//
//	log      put(1)      rev key expires:varint value
//	         delete(2)   rev key
//	snapshot header(10)  rev                 (first frame: the snapshot's revision)
//	         entry(11)   modRev createRev key expires:varint value
//	         end(12)     count               (last frame: number of entries)
//
// expires is the TTL deadline in Unix nanoseconds (0: none). Values are the
// stored bytes (the codec's encoding, transformed if the resource has a
// transformer), so replay needs no scheme. A frame with length 0 never occurs
// (every payload has a type byte), so a zero-filled tail reads as corrupt.

const (
	recPut        byte = 1
	recDelete     byte = 2
	recSnapHeader byte = 10
	recSnapEntry  byte = 11
	recSnapEnd    byte = 12

	frameHeaderSize = 8
	// maxFrameSize bounds the length field: a larger one is corruption.
	maxFrameSize = 256 << 20
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// walRecord is one decoded record of the log or of a snapshot.
type walRecord struct {
	typ byte
	// rev is the revision of a put or delete, the modification revision of a
	// snapshot entry, or the revision of a snapshot (header).
	rev       int64
	createRev int64
	key       string
	expires   int64
	value     []byte
	// count is the number of entries of a snapshot (end).
	count int64
}

// appendFrame appends r as one frame to dst.
func appendFrame(dst []byte, r *walRecord) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeaderSize)...)
	dst = append(dst, r.typ)
	switch r.typ {
	case recPut, recDelete:
		dst = binary.AppendUvarint(dst, uint64(r.rev))
		dst = binary.AppendUvarint(dst, uint64(len(r.key)))
		dst = append(dst, r.key...)
		if r.typ == recPut {
			dst = binary.AppendVarint(dst, r.expires)
			dst = append(dst, r.value...)
		}
	case recSnapHeader:
		dst = binary.AppendUvarint(dst, uint64(r.rev))
	case recSnapEntry:
		dst = binary.AppendUvarint(dst, uint64(r.rev))
		dst = binary.AppendUvarint(dst, uint64(r.createRev))
		dst = binary.AppendUvarint(dst, uint64(len(r.key)))
		dst = append(dst, r.key...)
		dst = binary.AppendVarint(dst, r.expires)
		dst = append(dst, r.value...)
	case recSnapEnd:
		dst = binary.AppendUvarint(dst, uint64(r.count))
	default:
		panic(fmt.Sprintf("unknown write-ahead log record type %d", r.typ))
	}
	payload := dst[start+frameHeaderSize:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, crc32c))
	return dst
}

// payloadReader decodes the fields of a payload.
type payloadReader struct {
	buf []byte
	err error
}

func (p *payloadReader) uvarint() int64 {
	if p.err != nil {
		return 0
	}
	v, n := binary.Uvarint(p.buf)
	if n <= 0 || v > 1<<63-1 {
		p.err = errors.New("bad uvarint")
		return 0
	}
	p.buf = p.buf[n:]
	return int64(v)
}

func (p *payloadReader) varint() int64 {
	if p.err != nil {
		return 0
	}
	v, n := binary.Varint(p.buf)
	if n <= 0 {
		p.err = errors.New("bad varint")
		return 0
	}
	p.buf = p.buf[n:]
	return v
}

func (p *payloadReader) key() string {
	n := p.uvarint()
	if p.err != nil {
		return ""
	}
	if n > int64(len(p.buf)) {
		p.err = errors.New("key longer than the record")
		return ""
	}
	k := string(p.buf[:n])
	p.buf = p.buf[n:]
	return k
}

// decodeRecord decodes a frame's payload. The value aliases payload.
func decodeRecord(payload []byte) (*walRecord, error) {
	if len(payload) == 0 {
		return nil, errors.New("empty record")
	}
	r := &walRecord{typ: payload[0]}
	p := &payloadReader{buf: payload[1:]}
	switch r.typ {
	case recPut, recDelete:
		r.rev = p.uvarint()
		r.key = p.key()
		if r.typ == recPut {
			r.expires = p.varint()
			r.value = p.buf
			p.buf = nil
		}
	case recSnapHeader:
		r.rev = p.uvarint()
	case recSnapEntry:
		r.rev = p.uvarint()
		r.createRev = p.uvarint()
		r.key = p.key()
		r.expires = p.varint()
		r.value = p.buf
		p.buf = nil
	case recSnapEnd:
		r.count = p.uvarint()
	default:
		return nil, fmt.Errorf("unknown record type %d", r.typ)
	}
	if p.err != nil {
		return nil, fmt.Errorf("record type %d: %w", r.typ, p.err)
	}
	if len(p.buf) > 0 {
		return nil, fmt.Errorf("record type %d: %d trailing bytes", r.typ, len(p.buf))
	}
	if r.typ != recSnapEnd && r.rev <= 0 {
		return nil, fmt.Errorf("record type %d: revision %d", r.typ, r.rev)
	}
	return r, nil
}

// frameError is a frame that is torn (cut short) or corrupt, at offset.
type frameError struct {
	offset int64
	reason string
}

func (e *frameError) Error() string {
	return fmt.Sprintf("torn or corrupt record at offset %d: %s", e.offset, e.reason)
}

// frameReader reads the frames of a file.
type frameReader struct {
	r *bufio.Reader
	// off is the offset of the next frame; after a frameError, the offset of
	// the bad frame, where the valid part of the file ends.
	off int64
	// size is the file size, which bounds frame lengths.
	size int64
}

func newFrameReader(r io.Reader, size int64) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 1<<20), size: size}
}

// next returns the next record, io.EOF at the clean end of the file, or a
// *frameError for a torn or corrupt frame.
func (fr *frameReader) next() (*walRecord, error) {
	var hdr [frameHeaderSize]byte
	n, err := io.ReadFull(fr.r, hdr[:])
	switch {
	case err == io.EOF:
		return nil, io.EOF
	case err == io.ErrUnexpectedEOF:
		return nil, &frameError{fr.off, fmt.Sprintf("short frame header (%d bytes)", n)}
	case err != nil:
		return nil, fmt.Errorf("reading at offset %d: %w", fr.off, err)
	}
	length := int64(binary.LittleEndian.Uint32(hdr[:4]))
	sum := binary.LittleEndian.Uint32(hdr[4:])
	if length == 0 || length > maxFrameSize {
		return nil, &frameError{fr.off, fmt.Sprintf("bad record length %d", length)}
	}
	if rest := fr.size - fr.off - frameHeaderSize; length > rest {
		return nil, &frameError{fr.off, fmt.Sprintf("record of %d bytes but %d left in the file", length, rest)}
	}
	payload := make([]byte, length)
	if n, err := io.ReadFull(fr.r, payload); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, &frameError{fr.off, fmt.Sprintf("short record (%d of %d bytes)", n, length)}
		}
		return nil, fmt.Errorf("reading at offset %d: %w", fr.off, err)
	}
	if got := crc32.Checksum(payload, crc32c); got != sum {
		return nil, &frameError{fr.off, fmt.Sprintf("CRC mismatch (stored %08x, computed %08x)", sum, got)}
	}
	rec, err := decodeRecord(payload)
	if err != nil {
		return nil, &frameError{fr.off, err.Error()}
	}
	fr.off += frameHeaderSize + length
	return rec, nil
}
