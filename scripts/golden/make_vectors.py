#!/usr/bin/env python3
"""Known-answer vectors of vouch's ledger format v1, made by an implementation other than vouch.

Written from the format's specification (DESIGN.md, "The ledger (format v1)", and
docs/LEDGER.md), not from vouch's Rust code, and sharing no code with the crates vouch uses:
SHA-256 from Python's hashlib, RFC 8785 from the `rfc8785` package, Ed25519 from `cryptography`
(OpenSSL), the CBMT, the RFC 9162 tree, C2SP notes, receipts and exports written out here. From
fixed inputs and a fixed Ed25519 seed (the secret key of RFC 8032 §7.1, test 1) it writes into
tests/golden/:

    vectors.json          one entry's canonical bytes and leaf hash; a log of four blocks of
                          1, 2, 3 and 7 entries (each entry's bytes and leaf, the CBMT nodes, root
                          and entry proofs, the header's bytes and block hash, chained by `prev`);
                          the history tree's roots, the signed checkpoint after each block and a
                          consistency proof; the verifier key; the C2SP signed-note example of
                          tests/ledger_vectors.rs
    log.pub               the log's verifier key, as `vouch keygen` writes it
    receipt.json          the receipt of seq 11, with its nonce, as the caller gets it
    receipt-later.json    the receipt of seq 1 fetched later (no nonce, the latest checkpoint)
    request.json          the request of seq 11 and the response carrying its receipt, which
    response.json         open the entry's input and output commitments
    export.jsonl          the export of blocks 0..4 and of blocks 2..4, as `vouch` writes them
    export-from-2.jsonl

tests/golden.rs builds each of these with vouch's library and compares bytes and hashes, and
runs vouch's verifiers (and the `vouch` binary) on the receipts, checkpoints and exports. The
tests never run Python: these files are committed, and the format is pinned to them for good.

Regenerate (from the repository's root):

    python3 -m venv .venv-golden
    .venv-golden/bin/pip install -r scripts/golden/requirements.txt
    .venv-golden/bin/python scripts/golden/make_vectors.py          # writes tests/golden/
    .venv-golden/bin/python scripts/golden/make_vectors.py --check  # compares, writes nothing

Everything is deterministic (Ed25519 signatures are, RFC 8032 §5.1.6), so a regeneration gives
the same bytes; `--check` exits 1 if it does not. Never edit the outputs by hand: format v1 does
not change, and a vector that would have to is a bug on one side, to be found against the spec.
"""

import base64
import hashlib
import json
import pathlib
import sys

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "golden"

# The log: its origin (the C2SP key name) and the seed of its Ed25519 key, RFC 8032 §7.1 test 1.
LOG = "golden.vouch.example/log"
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
# RFC 8032's public key for that seed: the Ed25519 library must derive it.
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


# --- Hashes (H = SHA-256; RFC 9162 §2.1.1 domains) ---------------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(data: bytes) -> bytes:
    """RFC 9162 leaf hash: H(0x00 || data). Entries and block headers are hashed this way."""
    return sha256(b"\x00" + data)


def node(left: bytes, right: bytes) -> bytes:
    """Interior node H(0x01 || left || right): the RFC 9162 node and the CBMT merge alike."""
    return sha256(b"\x01" + left + right)


def b64(data: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(data).decode("ascii")


def jcs(value) -> bytes:
    """RFC 8785 (JSON Canonicalization Scheme) bytes of a JSON value."""
    return rfc8785.dumps(value)


def label(text: str) -> str:
    """A stand-in digest (lowercase hex): SHA-256 of a label."""
    return sha256(text.encode()).hex()


# --- The CBMT of a block's entries --------------------------------------------------------------


def cbmt_nodes(leaves):
    """The complete binary Merkle tree in its array form: 2c − 1 nodes, root first; leaf i of c
    at node c − 1 + i; node k's children are 2k + 1 and 2k + 2 (its parent is (k − 1) / 2)."""
    c = len(leaves)
    nodes = [None] * (c - 1) + list(leaves)
    for k in range(c - 2, -1, -1):
        nodes[k] = node(nodes[2 * k + 1], nodes[2 * k + 2])
    return nodes


def cbmt_proof(nodes, count, index):
    """The sibling hashes of leaf `index` from the leaf up: node k's sibling is k + 1 if k is
    odd (a left child), else k − 1."""
    path = []
    k = count - 1 + index
    while k > 0:
        path.append(nodes[k + 1] if k % 2 == 1 else nodes[k - 1])
        k = (k - 1) // 2
    return path


def cbmt_root_from(leaf_hash, index, count, path):
    """Walks a leaf up its path: the root it leads to."""
    k = count - 1 + index
    acc = leaf_hash
    for sibling in path:
        acc = node(acc, sibling) if k % 2 == 1 else node(sibling, acc)
        k = (k - 1) // 2
    return acc


# --- The history tree (RFC 9162 §2.1) ------------------------------------------------------------


def split_point(n):
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    """MTH(D[n]), RFC 9162 §2.1.1, over leaf hashes already computed (n ≥ 1)."""
    if len(leaves) == 1:
        return leaves[0]
    k = split_point(len(leaves))
    return node(mth(leaves[:k]), mth(leaves[k:]))


def inclusion_path(m, leaves):
    """PATH(m, D[n]), RFC 9162 §2.1.3.1."""
    n = len(leaves)
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return inclusion_path(m, leaves[:k]) + [mth(leaves[k:])]
    return inclusion_path(m - k, leaves[k:]) + [mth(leaves[:k])]


def consistency_path(m, leaves):
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), RFC 9162 §2.1.4.1 (0 < m ≤ n)."""

    def subproof(m, d, b):
        n = len(d)
        if m == n:
            return [] if b else [mth(d)]
        k = split_point(n)
        if m <= k:
            return subproof(m, d[:k], b) + [mth(d[k:])]
        return subproof(m - k, d[k:], False) + [mth(d[:k])]

    return subproof(m, leaves, True)


def compact_range(leaves):
    """The roots of the complete subtrees of the tree of len(leaves) leaves along its right
    border, largest (leftmost) first: one per set bit of the size."""
    out, start, size = [], 0, len(leaves)
    for level in range(63, -1, -1):
        if size & (1 << level):
            out.append(mth(leaves[start : start + (1 << level)]))
            start += 1 << level
    return out


# --- Keys and signed notes (C2SP signed-note, tlog-checkpoint) -----------------------------------


# The signature algorithm byte of Ed25519 in C2SP keys and key ids.
ED25519 = b"\x01"


class Key:
    """An Ed25519 key named for C2SP signed notes."""

    def __init__(self, name: str, seed: bytes):
        self.name = name
        self.private = Ed25519PrivateKey.from_private_bytes(seed)
        self.seed = seed
        self.public = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        # Key id: the first 4 bytes of H(name || 0x0A || 0x01 || public key), big-endian.
        self.id = sha256(name.encode() + b"\x0a" + ED25519 + self.public)[:4]

    def verifier(self) -> str:
        """`<name>+<key id hex>+<base64(0x01 || public key)>`."""
        return f"{self.name}+{self.id.hex()}+{b64(ED25519 + self.public)}"

    def private_string(self) -> str:
        """`PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>`."""
        return f"PRIVATE+KEY+{self.name}+{self.id.hex()}+{b64(ED25519 + self.seed)}"

    def sign_note(self, text: str) -> str:
        """The signed note: the text, a blank line, and `— <name> <base64(key id || sig)>`."""
        assert text.endswith("\n") and "\n\n" not in text
        signature = self.private.sign(text.encode())
        return f"{text}\n\u2014 {self.name} {b64(self.id + signature)}\n"


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{b64(root)}\n"


# --- Entries ------------------------------------------------------------------------------------


def entry(seq, time, *, request_id, caller, credential, model, input, output, decision,
          rules, obligations, purpose, data_categories, pii, policy, judged=None):
    """An entry as a JSON object, every field of DESIGN.md's entry present; listed here in the
    order DESIGN.md names them, which is not the canonical order. With `judged` (a dict of
    `declared`, `input_bytes`, `pii_scan_complete`) an entry of version 2 (docs/LEDGER.md,
    "Entry versions"), which adds those three to its context; without, one of version 1."""
    context = {
        "purpose": purpose,
        "data_categories": sorted(data_categories),
        "pii": sorted(pii),
    }
    if judged is not None:
        declared = dict(judged["declared"])
        declared["categories"] = sorted(declared["categories"])
        context["declared"] = declared
        context["input_bytes"] = judged["input_bytes"]
        context["pii_scan_complete"] = judged["pii_scan_complete"]
    return {
        "v": 1 if judged is None else 2,
        "seq": seq,
        "time": time,
        "request_id": request_id,
        "caller": caller,
        "credential": credential,
        "model": model,
        "input": input,
        "output": output,
        "decision": decision,
        "rules": sorted(rules),
        "obligations": sorted(obligations),
        "context": context,
        "policy": policy,
    }


MODEL = {"name": "breast-cancer", "version": "1", "sha256": label("model breast-cancer 1")}
POLICY = label("policy bundle 2026-03")

# The single-entry vector: every string escape RFC 8785 §3.2.2.2 names, non-ASCII and astral
# characters, U+2028/U+2029 (not escaped), DEL (not escaped), and the largest seq (2^53 − 1)
# that RFC 8785 prints as an integer.
SINGLE = entry(
    2**53 - 1,
    "2026-11-29T10:04:43.123456Z",
    request_id='req "quoted" \\ back/slash \b\t\n\f\r \x00\x01\x1f \x7f',
    caller="clinic-\u00e9-\u65e5\u672c-\U0001f600",
    credential="key \u2028 \u2029 \ufffd",
    model={"name": "m\u00fcnchen", "version": "2.0.1-rc.1", "sha256": label("model m\u00fcnchen")},
    input=label("input"),
    output=None,
    decision="deny",
    rules=["privacy.consent-required", "ip.licence-required"],
    obligations=[],
    purpose=None,
    data_categories=["health", "financial"],
    pii=["phone", "email"],
    policy=POLICY,
)

# The single entry of version 2: the declarations as the rules read them, the terms version with
# escapes, declared categories given unsorted, and the largest input size RFC 8785 prints as an
# integer.
SINGLE_V2 = entry(
    0,
    "2026-11-29T10:04:43.000000Z",
    request_id=None,
    caller="clinic-a",
    credential="key-0",
    model=MODEL,
    input=label("input v2"),
    output=label("output v2"),
    decision="allow",
    rules=[],
    obligations=["human-review", "ai-disclosure"],
    purpose="medical-triage",
    data_categories=["health", "personal", "government-id"],
    pii=["cn-resident-id"],
    policy=POLICY,
    judged={
        "declared": {
            "categories": ["personal", "health"],
            "commercial": False,
            "consent": True,
            "separate_consent": True,
            "terms_version": "2026-03 \"rc\" \u00e9",
        },
        "input_bytes": 2**53 - 1,
        "pii_scan_complete": False,
    },
)

# The nonce of seq 11's commitments, and the request and response they cover.
NONCE = bytes(range(0xA0, 0xC0))
REQUEST = {
    "id": "req-11",
    "inputs": [
        {
            "name": "features",
            "shape": [1, 6],
            "datatype": "FP32",
            # ECMAScript number printing (RFC 8785 §3.2.2.3): 1e+21, 1e-7, 0.1, 0 for −0.
            "data": [0.5, -1.25, 1e21, 1e-7, 0.1, -0.0],
        },
        {
            "name": "note",
            "shape": [1],
            "datatype": "BYTES",
            "data": ["caf\u00e9 \U0001f600"],
            # Members ordered by UTF-16 code units (RFC 8785 §3.2.3): U+1F600 before U+FB33.
            "parameters": {"\ufb33": "dalet", "\U0001f600": "grin", "\u20ac": "euro"},
        },
    ],
    "parameters": {"purpose": "medical-triage", "consent": True, "data_categories": ["health"]},
}
OUTPUTS = [
    {"name": "label", "shape": [1], "datatype": "INT64", "data": [1]},
    {"name": "probabilities", "shape": [1, 2], "datatype": "FP32", "data": [0.25, 0.75]},
]


def commitment(nonce: bytes, value) -> str:
    """H(nonce || JCS(value)): an input or output commitment."""
    return sha256(nonce + jcs(value)).hex()


# The log: four blocks of 1, 2, 3 and 7 entries; each entry carries its block's time. Blocks 1
# and 2 have the same time (times never decrease; they may stay).
BLOCK_TIMES = [
    "2026-03-01T09:00:00.000001Z",
    "2026-03-01T09:00:00.250000Z",
    "2026-03-01T09:00:00.250000Z",
    "2026-03-01T09:00:01.999999Z",
    "2026-11-29T10:00:00.000000Z",
    "2026-11-29T10:00:00.500000Z",
]
BLOCK_COUNTS = [1, 2, 3, 7, 2, 3]
RECEIPT_SEQ = 11
LATER_SEQ = 1


# Entries from this seq on are of version 2: the first four blocks (13 entries) were written by a
# vouch of version-1 entries, and the log was continued by one that writes version 2 (blocks 4
# and 5). Everything of the first four blocks is as it was before version 2 existed.
FIRST_V2_SEQ = 13
V1_BLOCKS = 4
V2_RECEIPT_SEQ = 16


def chain_entry(seq, time):
    """Entry `seq` of the log: allowed, denied and failed calls, with and without a model."""
    kind = seq % 3
    common = dict(
        request_id=f"req-{seq}",
        caller=["clinic-a", "clinic-b", "insurer"][seq % 3],
        credential=f"key-{seq % 2}",
        purpose="medical-triage",
        data_categories=["health"],
        policy=POLICY,
    )
    if seq >= FIRST_V2_SEQ:
        common["judged"] = {
            "declared": {
                "categories": ["health"],
                "commercial": seq % 2 == 0,
                "consent": kind != 1,
                "separate_consent": kind != 1,
                "terms_version": None if seq % 4 else "2026-03",
            },
            "input_bytes": 100 + seq,
            "pii_scan_complete": True,
        }
    if seq == RECEIPT_SEQ:
        return entry(seq, time, **common, model=MODEL,
                     input=commitment(NONCE, REQUEST["inputs"]),
                     output=commitment(NONCE, OUTPUTS), decision="allow",
                     rules=[], obligations=["human-review", "ai-disclosure"], pii=[])
    if kind == 0:
        return entry(seq, time, **common, model=MODEL, input=label(f"in {seq}"),
                     output=label(f"out {seq}"), decision="allow", rules=[],
                     obligations=["ai-disclosure"], pii=[])
    if kind == 1:
        return entry(seq, time, **common, model=MODEL, input=label(f"in {seq}"), output=None,
                     decision="deny", rules=["privacy.consent-required"], obligations=[],
                     pii=["email"])
    return entry(seq, time, **common, model=None, input=label(f"in {seq}"), output=None,
                 decision="error", rules=[], obligations=[], pii=[])


def build_log(key: Key):
    """The four blocks: entries, CBMTs, headers chained by `prev`, the history tree and the
    checkpoint signed after each block."""
    blocks, block_hashes = [], []
    prev = bytes(32)
    seq = 0
    for height, (count, time) in enumerate(zip(BLOCK_COUNTS, BLOCK_TIMES)):
        entries = [chain_entry(seq + i, time) for i in range(count)]
        entry_bytes = [jcs(e) for e in entries]
        leaves = [leaf(b) for b in entry_bytes]
        nodes = cbmt_nodes(leaves)
        proofs = []
        for i in range(count):
            path = cbmt_proof(nodes, count, i)
            assert cbmt_root_from(leaves[i], i, count, path) == nodes[0]
            proofs.append({"index": i, "count": count, "path": [p.hex() for p in path]})
        header = {
            "v": 1,
            "log": LOG,
            "height": height,
            "first_seq": seq,
            "count": count,
            "time": time,
            "entries_root": nodes[0].hex(),
            "prev": prev.hex(),
        }
        header_bytes = jcs(header)
        block_hash = leaf(header_bytes)
        block_hashes.append(block_hash)
        root = mth(block_hashes)
        note = key.sign_note(checkpoint_body(LOG, height + 1, root))
        blocks.append({
            "height": height,
            "header": header,
            "header_bytes": header_bytes,
            "block_hash": block_hash,
            "entries": entries,
            "entry_bytes": entry_bytes,
            "leaves": leaves,
            "nodes": nodes,
            "proofs": proofs,
            "root": root,
            "checkpoint": note,
        })
        prev = block_hash
        seq += count
    return blocks, block_hashes


# --- Receipts and exports ------------------------------------------------------------------------


def json_string(s: str) -> str:
    """A JSON string as vouch writes one: `"` and `\\` escaped, control characters as \\b \\t
    \\n \\f \\r or \\u00xx, everything else (non-ASCII too) as it is."""
    return json.dumps(s, ensure_ascii=False)


def hashes(hs) -> str:
    return "[" + ",".join(f'"{h.hex()}"' for h in hs) + "]"


def receipt(blocks, block_hashes, seq, size, nonce):
    """The receipt of entry `seq` against the checkpoint of the first `size` blocks, as JSON
    bytes in the order DESIGN.md lists its members: {v, entry, entry_proof, block, block_proof,
    checkpoint, nonce}."""
    block = next(b for b in blocks if b["header"]["first_seq"] <= seq
                 < b["header"]["first_seq"] + b["header"]["count"])
    index = seq - block["header"]["first_seq"]
    count = block["header"]["count"]
    height = block["height"]
    entry_path = cbmt_proof(block["nodes"], count, index)
    block_path = inclusion_path(height, block_hashes[:size])
    nonce_json = "null" if nonce is None else f'"{b64(nonce)}"'
    text = (
        "{"
        f'"v":1,'
        f'"entry":"{b64(block["entry_bytes"][index])}",'
        f'"entry_proof":{{"index":{index},"count":{count},"path":{hashes(entry_path)}}},'
        f'"block":"{b64(block["header_bytes"])}",'
        f'"block_proof":{{"index":{height},"tree_size":{size},"path":{hashes(block_path)}}},'
        f'"checkpoint":{json_string(blocks[size - 1]["checkpoint"])},'
        f'"nonce":{nonce_json}'
        "}"
    )
    return text.encode()


def export(blocks, block_hashes, start, end):
    """The export of blocks start..end (docs/LEDGER.md, "Export"): the first line with the base
    of the tree of `start` blocks, then per block its header, entries and checkpoint, then the
    end line."""
    prev = block_hashes[start - 1] if start > 0 else bytes(32)
    prev_proof = inclusion_path(start - 1, block_hashes[:start]) if start > 0 else []
    lines = [
        '{"type":"export","v":1,'
        f'"log":{json_string(LOG)},"from_height":{start},"to_height":{end},'
        f'"base":{{"size":{start},"prev":"{prev.hex()}",'
        f'"range":{hashes(compact_range(block_hashes[:start]))},'
        f'"prev_proof":{hashes(prev_proof)}}}}}'
    ]
    entries = 0
    for b in blocks[start:end]:
        h = b["height"]
        lines.append(f'{{"type":"block","height":{h},"header":"{b64(b["header_bytes"])}"}}')
        for e, raw in zip(b["entries"], b["entry_bytes"]):
            lines.append(f'{{"type":"entry","seq":{e["seq"]},"entry":"{b64(raw)}"}}')
        lines.append(f'{{"type":"checkpoint","height":{h},"note":{json_string(b["checkpoint"])}}}')
        entries += b["header"]["count"]
    lines.append(f'{{"type":"end","blocks":{end - start},"entries":{entries}}}')
    return "".join(line + "\n" for line in lines).encode()


# --- The vectors --------------------------------------------------------------------------------


def hexes(hs):
    return [h.hex() for h in hs]


def c2sp_example():
    """The signed note of tests/ledger_vectors.rs (`a_c2sp_signed_note_checked_by_hand`): seed
    07 × 32, name example.org/log, a checkpoint of 17 leaves with root 09 × 32."""
    key = Key("example.org/log", bytes([7] * 32))
    body = checkpoint_body(key.name, 17, bytes([9] * 32))
    return {
        "seed": key.seed.hex(),
        "name": key.name,
        "public_key": key.public.hex(),
        "key_id": key.id.hex(),
        "verifier_key": key.verifier(),
        "private_key": key.private_string(),
        "size": 17,
        "root": bytes([9] * 32).hex(),
        "body": body,
        "note": key.sign_note(body),
    }


def outputs():
    key = Key(LOG, SEED)
    assert key.public.hex() == RFC8032_PUBLIC, "the Ed25519 library disagrees with RFC 8032"
    blocks, block_hashes = build_log(key)

    single_bytes = jcs(SINGLE)
    vectors = {
        "about": "ledger format v1 known answers (entries of versions 1 and 2), made by scripts/golden/make_vectors.py "
                 "(Python hashlib, rfc8785, cryptography) from the spec; never edit by hand",
        "key": {
            "name": LOG,
            "seed": SEED.hex(),
            "public_key": key.public.hex(),
            "key_id": key.id.hex(),
            "verifier_key": key.verifier(),
        },
        "entry": {
            "fields": SINGLE,
            "bytes": single_bytes.decode("utf-8"),
            "leaf_hash": leaf(single_bytes).hex(),
        },
        "entry_v2": {
            "fields": SINGLE_V2,
            "bytes": jcs(SINGLE_V2).decode("utf-8"),
            "leaf_hash": leaf(jcs(SINGLE_V2)).hex(),
        },
        "blocks": [
            {
                "height": b["height"],
                "entries": [
                    {"fields": e, "bytes": raw.decode("utf-8"), "leaf_hash": lh.hex()}
                    for e, raw, lh in zip(b["entries"], b["entry_bytes"], b["leaves"])
                ],
                "cbmt_nodes": hexes(b["nodes"]),
                "entries_root": b["nodes"][0].hex(),
                "entry_proofs": b["proofs"],
                "header": b["header"],
                "header_bytes": b["header_bytes"].decode("utf-8"),
                "block_hash": b["block_hash"].hex(),
                "history_root": b["root"].hex(),
                "checkpoint": b["checkpoint"],
            }
            for b in blocks
        ],
        "inclusion_proofs": [
            {"index": i, "tree_size": n, "path": hexes(inclusion_path(i, block_hashes[:n]))}
            for n in range(1, len(blocks) + 1)
            for i in range(n)
        ],
        "consistency_proof": {
            "old_size": 2,
            "new_size": 4,
            "path": hexes(consistency_path(2, block_hashes[:V1_BLOCKS])),
        },
        "commitments": {
            "nonce": NONCE.hex(),
            "inputs_jcs": jcs(REQUEST["inputs"]).decode("utf-8"),
            "input": commitment(NONCE, REQUEST["inputs"]),
            "outputs_jcs": jcs(OUTPUTS).decode("utf-8"),
            "output": commitment(NONCE, OUTPUTS),
        },
        "receipts": {"receipt.json": RECEIPT_SEQ, "receipt-later.json": LATER_SEQ,
                     "receipt-v2.json": V2_RECEIPT_SEQ},
        "exports": {"export.jsonl": [0, 4], "export-from-2.jsonl": [2, 4],
                    "export-v2.jsonl": [0, 6]},
        "c2sp_example": c2sp_example(),
    }

    receipt_now = receipt(blocks, block_hashes, RECEIPT_SEQ, 4, NONCE)
    response = {
        "id": REQUEST["id"],
        "model_name": MODEL["name"],
        "model_version": MODEL["version"],
        "outputs": OUTPUTS,
        "receipt": json.loads(receipt_now),
    }
    files = {
        "vectors.json": (json.dumps(vectors, indent=2) + "\n").encode(),
        "log.pub": (key.verifier() + "\n").encode(),
        "receipt.json": receipt_now,
        "receipt-later.json": receipt(blocks, block_hashes, LATER_SEQ, 4, None),
        "request.json": (json.dumps(REQUEST, indent=2) + "\n").encode(),
        "response.json": (json.dumps(response, indent=2) + "\n").encode(),
        "export.jsonl": export(blocks, block_hashes, 0, 4),
        "export-from-2.jsonl": export(blocks, block_hashes, 2, 4),
        "receipt-v2.json": receipt(blocks, block_hashes, V2_RECEIPT_SEQ, 6, None),
        "export-v2.jsonl": export(blocks, block_hashes, 0, 6),
    }
    return files


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] not in ([], ["--check"]):
        print(f"usage: {argv[0]} [--check]", file=sys.stderr)
        return 2
    files = outputs()
    if check:
        differ = [n for n, data in files.items()
                  if not (OUT / n).exists() or (OUT / n).read_bytes() != data]
        for n in differ:
            print(f"tests/golden/{n} differs from what the generator makes", file=sys.stderr)
        return 1 if differ else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for n, data in files.items():
        (OUT / n).write_bytes(data)
    print(f"wrote {len(files)} files to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
