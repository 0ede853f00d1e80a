// Command gocheck verifies regogate's signed checkpoints and proofs with Go's own
// golang.org/x/mod/sumdb/note and sumdb/tlog (an independent implementation).
//
// Go trusts only the verifier keys and the origin it is given. From the rest it
// takes the signed notes and the exact record bytes, and derives everything else:
//
//   - each leaf hash is tlog.RecordHash of a record's exact bytes (the record line
//     without its trailing newline, docs/recording-format.md §1–§3);
//   - each note is opened with note.Open, and its text is parsed as a C2SP
//     tlog-checkpoint (origin, decimal tree size, base64 root, extension lines);
//   - each checkpoint's root must equal tlog.TreeHash over the first size leaves,
//     and the newest checkpoint must cover exactly the records given;
//   - inclusion and consistency proofs are checked with tlog.CheckRecord and
//     tlog.CheckTree against Go's own leaf hashes and tree hashes. Leaf and root
//     values the caller supplies next to a proof are only compared with Go's.
//
// Not checked here: which trusted key must sign which checkpoint (the key schedule of
// gateway.start and key.rotate records); regogate's verifier does that
// (checkpoint-wrong-key). Give this program only the key in force for the notes.
//
// Input: JSON on stdin; output: "ok", or the first failure and exit status 1.
package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusion struct {
	Index int64    `json:"index"`
	Size  int64    `json:"size"`
	Proof []string `json:"proof"`
	Root  string   `json:"root"` // optional: compared with Go's tree hash
	Leaf  string   `json:"leaf"` // optional: compared with Go's leaf hash
}

type consistency struct {
	Old     int64    `json:"old"`
	New     int64    `json:"new"`
	Proof   []string `json:"proof"`
	OldRoot string   `json:"old_root"` // optional: compared with Go's tree hash
	NewRoot string   `json:"new_root"` // optional: compared with Go's tree hash
}

type input struct {
	Origin      string        `json:"origin"`  // the log's name, as the examiner knows it
	Vkeys       []string      `json:"vkeys"`   // trusted verifier keys
	Notes       []string      `json:"notes"`   // signed checkpoints, oldest first
	Records     []string      `json:"records"` // base64 of each record's exact bytes
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
}

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

func h(s string) tlog.Hash {
	var out tlog.Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(out) {
		fail("bad hash %q", s)
	}
	copy(out[:], b)
	return out
}

func fail(format string, args ...any) {
	fmt.Printf(format+"\n", args...)
	os.Exit(1)
}

// parseCheckpoint parses a C2SP tlog-checkpoint body: origin, tree size (decimal,
// no leading zeros), root (standard padded base64 of 32 bytes), then any non-empty
// extension lines. tlog.ParseTree only accepts the go.sum origin, hence by hand.
func parseCheckpoint(text string) (checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return checkpoint{}, fmt.Errorf("want origin, size and root lines: %q", text)
	}
	origin, size, root, ext := lines[0], lines[1], lines[2], lines[3:len(lines)-1]
	if origin == "" {
		return checkpoint{}, fmt.Errorf("empty origin")
	}
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil || n < 0 || size != strconv.FormatInt(n, 10) {
		return checkpoint{}, fmt.Errorf("bad tree size %q", size)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(root)
	if err != nil || len(raw) != tlog.HashSize {
		return checkpoint{}, fmt.Errorf("bad root %q", root)
	}
	for _, e := range ext {
		if e == "" {
			return checkpoint{}, fmt.Errorf("empty extension line")
		}
	}
	c := checkpoint{origin: origin, size: n}
	copy(c.root[:], raw)
	return c, nil
}

func main() {
	var in input
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		fail("bad input: %v", err)
	}
	if in.Origin == "" || len(in.Vkeys) == 0 || len(in.Notes) == 0 {
		fail("bad input: origin, vkeys and notes are required")
	}
	var verifiers []note.Verifier
	for _, k := range in.Vkeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			fail("verifier key: %v", err)
		}
		verifiers = append(verifiers, v)
	}
	known := note.VerifierList(verifiers...)

	// The leaves, hashed by Go from the exact record bytes, and the tree over them.
	var leaves []tlog.Hash
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for j, k := range idx {
			if k < 0 || k >= int64(len(stored)) {
				return nil, fmt.Errorf("no stored hash %d", k)
			}
			out[j] = stored[k]
		}
		return out, nil
	})
	for i, r := range in.Records {
		data, err := base64.StdEncoding.Strict().DecodeString(r)
		if err != nil {
			fail("bad input: record %d is not base64", i)
		}
		leaf := tlog.RecordHash(data)
		hashes, err := tlog.StoredHashesForRecordHash(int64(i), leaf, reader)
		if err != nil {
			fail("StoredHashes: %v", err)
		}
		leaves = append(leaves, leaf)
		stored = append(stored, hashes...)
	}
	count := int64(len(leaves))
	treeHash := func(what string, n int64) tlog.Hash {
		if n < 0 || n > count {
			fail("%s: tree size %d, but there are %d records", what, n, count)
		}
		th, err := tlog.TreeHash(n, reader)
		if err != nil {
			fail("%s: TreeHash(%d): %v", what, n, err)
		}
		return th
	}

	// Each signed checkpoint: signature, then its own size and root against the tree.
	var last checkpoint
	for k, msg := range in.Notes {
		n, err := note.Open([]byte(msg), known)
		if err != nil {
			fail("note.Open(checkpoint %d): %v", k, err)
		}
		c, err := parseCheckpoint(n.Text)
		if err != nil {
			fail("checkpoint %d: malformed: %v", k, err)
		}
		if c.origin != in.Origin {
			fail("checkpoint %d: origin %q, want %q", k, c.origin, in.Origin)
		}
		if k > 0 && c.size < last.size {
			fail("checkpoint %d: size %d after %d", k, c.size, last.size)
		}
		if c.size > count {
			fail("checkpoint %d: signed size %d exceeds the %d records", k, c.size, count)
		}
		if th := treeHash(fmt.Sprintf("checkpoint %d", k), c.size); th != c.root {
			fail("checkpoint %d: signed root %x != go tree hash %x over %d records",
				k, c.root[:], th[:], c.size)
		}
		last = c
	}
	if last.size != count {
		fail("newest checkpoint covers %d of the %d records", last.size, count)
	}

	for _, c := range in.Inclusion {
		if c.Index < 0 || c.Index >= c.Size {
			fail("CheckRecord(%d of %d): index out of range", c.Index, c.Size)
		}
		root := treeHash(fmt.Sprintf("inclusion %d of %d", c.Index, c.Size), c.Size)
		leaf := leaves[c.Index]
		if c.Root != "" && h(c.Root) != root {
			fail("inclusion %d of %d: supplied root differs from go's %x", c.Index, c.Size, root[:])
		}
		if c.Leaf != "" && h(c.Leaf) != leaf {
			fail("inclusion %d of %d: supplied leaf differs from go's %x", c.Index, c.Size, leaf[:])
		}
		var p tlog.RecordProof
		for _, x := range c.Proof {
			p = append(p, h(x))
		}
		if err := tlog.CheckRecord(p, c.Size, root, c.Index, leaf); err != nil {
			fail("CheckRecord(%d of %d): %v", c.Index, c.Size, err)
		}
	}
	for _, c := range in.Consistency {
		what := fmt.Sprintf("consistency %d -> %d", c.Old, c.New)
		if c.Old < 1 || c.Old > c.New {
			fail("%s: bad sizes", what)
		}
		oldRoot, newRoot := treeHash(what, c.Old), treeHash(what, c.New)
		if c.OldRoot != "" && h(c.OldRoot) != oldRoot {
			fail("%s: supplied old root differs from go's %x", what, oldRoot[:])
		}
		if c.NewRoot != "" && h(c.NewRoot) != newRoot {
			fail("%s: supplied new root differs from go's %x", what, newRoot[:])
		}
		var p tlog.TreeProof
		for _, x := range c.Proof {
			p = append(p, h(x))
		}
		if err := tlog.CheckTree(p, c.New, newRoot, c.Old, oldRoot); err != nil {
			fail("CheckTree(%d -> %d): %v", c.Old, c.New, err)
		}
	}
	fmt.Println("ok")
}
