// A synthetic heap profile: a valid gzip'd profile.proto of any size, so
// that tests and the benchmark can push tens of megabytes through the
// gateway's streaming annotator, which a real heap of this small process
// never reaches.
//
// It is laid out like the delta profiles of net/http/pprof (the encoder of
// Go's internal/profile): sample types, samples, one mapping, locations,
// functions, the string table, then time, duration and period after the
// string table.  Names and file names carry random hex so that the
// compressed size grows with the profile at a ratio close to real ones'.
// Everything derives from fixed seeds: a given size is the same bytes on
// every run.
package main

import (
	"bytes"
	"compress/gzip"
	"io"
)

// Field numbers of perftools.profiles (see profile.proto).
const (
	profileSampleType    = 1
	profileSample        = 2
	profileMapping       = 3
	profileLocation      = 4
	profileFunction      = 5
	profileStringTable   = 6
	profileTimeNanos     = 9
	profileDurationNanos = 10
	profilePeriodType    = 11
	profilePeriod        = 12

	valueTypeType = 1
	valueTypeUnit = 2

	sampleLocationID = 1
	sampleValue      = 2
	sampleLabel      = 3

	labelKey = 1
	labelNum = 3

	mappingID           = 1
	mappingMemoryStart  = 2
	mappingMemoryLimit  = 3
	mappingFilename     = 5
	mappingBuildID      = 6
	mappingHasFunctions = 7

	locationID        = 1
	locationMappingID = 2
	locationAddress   = 3
	locationLine      = 4

	lineFunctionID = 1
	lineLine       = 2

	functionID         = 1
	functionName       = 2
	functionSystemName = 3
	functionFilename   = 4
	functionStartLine  = 5
)

const (
	wireVarint = 0
	wireBytes  = 2
)

// pbuf is just enough of a protobuf encoder for profile.proto: varints and
// length-delimited fields.  Zero scalars are left out, as proto3 does.
type pbuf []byte

func (b *pbuf) varint(v uint64) {
	for v >= 0x80 {
		*b = append(*b, byte(v)|0x80)
		v >>= 7
	}
	*b = append(*b, byte(v))
}

func (b *pbuf) key(field, wire int) {
	b.varint(uint64(field)<<3 | uint64(wire))
}

func (b *pbuf) uint(field int, v uint64) {
	if v != 0 {
		b.key(field, wireVarint)
		b.varint(v)
	}
}

func (b *pbuf) bytes(field int, v []byte) {
	b.key(field, wireBytes)
	b.varint(uint64(len(v)))
	*b = append(*b, v...)
}

// packed writes vs as one packed field, which is how Go's encoders write
// a sample's location ids and values.
func (b *pbuf) packed(field int, vs []uint64, scratch *pbuf) {
	*scratch = (*scratch)[:0]
	for _, v := range vs {
		scratch.varint(v)
	}
	b.bytes(field, *scratch)
}

const (
	synthSeed = 0x7a3c_91e5_04d2_6b1f

	// Names and files repeat their package, and files hold a few
	// functions each, as in real code; the rest of a name is random.
	funcsPerFile    = 8
	funcsPerPackage = 64

	mappingStart = 0x400000
	addressStep  = 0x80

	// How much of the profile's leaf frames are drawn from every location;
	// the callers further up come from a few hot ones, as in real stacks.
	leafFrames   = 3
	hotLocations = 4096
)

// The fixed strings come first, then one name per function, then one file
// name per file.
var synthFixedStrings = []string{
	"",
	"alloc_objects", "count", "alloc_space", "bytes",
	"inuse_objects", "inuse_space", "space",
	"/usr/local/bin/synthetic-service",
}

const (
	strAllocObjects = 1
	strCount        = 2
	strAllocSpace   = 3
	strBytes        = 4
	strInuseObjects = 5
	strInuseSpace   = 6
	strSpace        = 7
	strBinary       = 8
	strBuildID      = 9 // generated, right after the fixed ones
	strFirstName    = 10
)

// mix is SplitMix64's finaliser: the random bits of item i for purpose
// salt, so that a string can be rebuilt from its index alone when the
// string table is written, long after the functions that point to it.
func mix(i, salt uint64) uint64 {
	z := synthSeed ^ (i+1)*0x9e3779b97f4a7c15 ^ salt*0xd1b54a32d192ed03
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// rng is a SplitMix64 sequence, for the samples, which are written once.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func appendHex(b []byte, v uint64, digits int) []byte {
	const hex = "0123456789abcdef"
	for i := digits - 1; i >= 0; i-- {
		b = append(b, hex[v>>(4*uint(i))&0xf])
	}
	return b
}

func appendPackage(b []byte, pkg uint64) []byte {
	b = append(b, "github.com/synthetic-"...)
	b = appendHex(b, mix(pkg, 1), 8)
	b = append(b, "/svc/"...)
	return appendHex(b, mix(pkg, 2), 8)
}

func appendFuncName(b []byte, fn uint64) []byte {
	b = appendPackage(b, fn/funcsPerPackage)
	b = append(b, ".(*T"...)
	b = appendHex(b, mix(fn/funcsPerFile, 3), 6)
	b = append(b, ").M"...)
	return appendHex(b, mix(fn, 4), 16)
}

func appendFileName(b []byte, file uint64) []byte {
	b = append(b, "/src/"...)
	b = appendPackage(b, file*funcsPerFile/funcsPerPackage)
	b = append(b, '/')
	b = appendHex(b, mix(file, 5), 8)
	return append(b, ".go"...)
}

func startLine(fn uint64) uint64 {
	return 10 + mix(fn, 6)%4000
}

// writeSyntheticHeap encodes a heap profile of nfunc functions (and as
// many locations, and half as many samples) into w.
func writeSyntheticHeap(w io.Writer, nfunc uint64) error {
	var out, msg, inner, scratch pbuf
	locs := make([]uint64, 0, 64)
	values := make([]uint64, 4)
	nfiles := (nfunc + funcsPerFile - 1) / funcsPerFile
	firstFile := strFirstName + nfunc
	hot := uint64(hotLocations)
	if hot > nfunc {
		hot = nfunc
	}

	// The encoding goes out in pieces so that memory stays small whatever
	// the size.
	flush := func(force bool) error {
		if len(out) < 64<<10 && !force {
			return nil
		}
		_, err := w.Write(out)
		out = out[:0]
		return err
	}
	message := func(field int) error {
		out.bytes(field, msg)
		msg = msg[:0]
		return flush(false)
	}
	valueType := func(field int, typ, unit uint64) error {
		msg.uint(valueTypeType, typ)
		msg.uint(valueTypeUnit, unit)
		return message(field)
	}

	for _, vt := range [][2]uint64{
		{strAllocObjects, strCount}, {strAllocSpace, strBytes},
		{strInuseObjects, strCount}, {strInuseSpace, strBytes},
	} {
		if err := valueType(profileSampleType, vt[0], vt[1]); err != nil {
			return err
		}
	}

	r := rng(synthSeed)
	for s := uint64(0); s < nfunc/2+1; s++ {
		depth := 4 + r.next()%29
		locs = locs[:0]
		for f := uint64(0); f < depth; f++ {
			if f < leafFrames {
				locs = append(locs, 1+r.next()%nfunc)
			} else {
				locs = append(locs, 1+r.next()%hot)
			}
		}
		objects := 1 + r.next()%64
		size := uint64(16) << (r.next() % 12)
		inuse := r.next() % (objects + 1)
		values[0], values[1] = objects, objects*size
		values[2], values[3] = inuse, inuse*size

		msg.packed(sampleLocationID, locs, &scratch)
		msg.packed(sampleValue, values, &scratch)
		inner.uint(labelKey, strBytes)
		inner.uint(labelNum, size)
		msg.bytes(sampleLabel, inner)
		inner = inner[:0]
		if err := message(profileSample); err != nil {
			return err
		}
	}

	msg.uint(mappingID, 1)
	msg.uint(mappingMemoryStart, mappingStart)
	msg.uint(mappingMemoryLimit, mappingStart+(nfunc+1)*addressStep)
	msg.uint(mappingFilename, strBinary)
	msg.uint(mappingBuildID, strBuildID)
	msg.uint(mappingHasFunctions, 1)
	if err := message(profileMapping); err != nil {
		return err
	}

	// Every fifth location has a second function inlined into it.
	line := func(fn uint64) {
		inner.uint(lineFunctionID, fn+1)
		inner.uint(lineLine, startLine(fn)+1+mix(fn, 7)%200)
		msg.bytes(locationLine, inner)
		inner = inner[:0]
	}
	for l := uint64(0); l < nfunc; l++ {
		msg.uint(locationID, l+1)
		msg.uint(locationMappingID, 1)
		msg.uint(locationAddress, mappingStart+l*addressStep+mix(l, 8)%addressStep)
		if l%5 == 0 && l+1 < nfunc {
			line(l + 1)
		}
		line(l)
		if err := message(profileLocation); err != nil {
			return err
		}
	}

	for fn := uint64(0); fn < nfunc; fn++ {
		msg.uint(functionID, fn+1)
		msg.uint(functionName, strFirstName+fn)
		msg.uint(functionSystemName, strFirstName+fn)
		msg.uint(functionFilename, firstFile+fn/funcsPerFile)
		msg.uint(functionStartLine, startLine(fn))
		if err := message(profileFunction); err != nil {
			return err
		}
	}

	str := func(s []byte) error {
		out.bytes(profileStringTable, s)
		return flush(false)
	}
	for _, s := range synthFixedStrings {
		if err := str([]byte(s)); err != nil {
			return err
		}
	}
	scratch = appendHex(appendHex(scratch[:0], mix(0, 9), 16), mix(1, 9), 16)
	if err := str(scratch); err != nil {
		return err
	}
	for fn := uint64(0); fn < nfunc; fn++ {
		scratch = appendFuncName(scratch[:0], fn)
		if err := str(scratch); err != nil {
			return err
		}
	}
	for file := uint64(0); file < nfiles; file++ {
		scratch = appendFileName(scratch[:0], file)
		if err := str(scratch); err != nil {
			return err
		}
	}

	out.uint(profileTimeNanos, 1_700_000_000_000_000_000)
	out.uint(profileDurationNanos, 30_000_000_000)
	msg.uint(valueTypeType, strSpace)
	msg.uint(valueTypeUnit, strBytes)
	out.bytes(profilePeriodType, msg)
	out.uint(profilePeriod, 512*1024)
	return flush(true)
}

type countingWriter int

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

func gzipSyntheticHeap(w io.Writer, nfunc uint64) error {
	zw := gzip.NewWriter(w)
	if err := writeSyntheticHeap(zw, nfunc); err != nil {
		return err
	}
	return zw.Close()
}

// syntheticHeap returns a gzip'd heap profile of at least minBytes.  How
// many functions that takes is measured on a small profile first, then
// corrected if the estimate falls short.
func syntheticHeap(minBytes int) ([]byte, error) {
	const probe = 1 << 14
	var probed countingWriter
	if err := gzipSyntheticHeap(&probed, probe); err != nil {
		return nil, err
	}
	perFunc := float64(probed) / probe

	// A little over the estimate, so that one pass is nearly always enough.
	nfunc := uint64(float64(minBytes)/perFunc*1.01) + 1
	for {
		var buf bytes.Buffer
		buf.Grow(minBytes + minBytes/32 + 4096)
		if err := gzipSyntheticHeap(&buf, nfunc); err != nil {
			return nil, err
		}
		if buf.Len() >= minBytes {
			return buf.Bytes(), nil
		}
		nfunc = uint64(float64(nfunc)*float64(minBytes)/float64(buf.Len())*1.01) + 1
	}
}
