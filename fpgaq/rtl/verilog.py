"""Spelling a pipelined netlist as Verilog-2005: Python decides every width and expression, templates spell.

Conventions of the generated code:

* every signal is a plain (unsigned) bit vector ``s<id>`` of exactly the
  width its range needs; signedness is handled here, at each use: an
  operand is sign- or zero-extended (or truncated: results are exact modulo
  ``2**width`` because every result fits its width) to exactly the width of
  the operation, so nothing depends on Verilog's expression sizing rules and
  ``verilator --lint-only -Wall`` finds no width mismatch; comparisons and
  products use ``$signed`` on operands widened to hold both ranges;
* constants are literals inside the expressions that read them;
* ``(a << s) + b`` passes ``b``'s low ``s`` bits through and adds only the
  rest, as does ``a - (b << s)``; the adder trees place subtractions so that
  this holds (see :mod:`fpgaq.rtl.csd`);
* a wire of which some bits are never read (low bits that a rounding shift
  drops, high bits beyond a narrower result) is declared between
  ``verilator lint_off UNUSEDSIGNAL`` / ``lint_on``: Verilator's
  ``UNUSEDSIGNAL`` is the only warning waived, and only there;
* ``reg`` ops are flip-flops enabled by the pipeline enable ``en``; ``hold``
  registers load when the valid bit of their input stage is set; an
  ``accum`` is an adder and a register that a synchronous reset keeps at zero
  outside a sample's phases ``0 .. R-2``.

One module per layer (``<top>_<layer>``, file ``rtl/<module>.v``) holds the
operations built for that layer, its pipeline registers and the delay
registers of its outputs; the top level holds the handshake, the valid bit
of every stage, the input registers and the output bus.  ``partition="flat"``
puts everything into the top module instead.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from fpgaq.rtl.delay import NET_WIRING_OPS
from fpgaq.rtl.netlist import Netlist, Op, Signal, add3_pass_through, bits_for_range
from fpgaq.rtl.pipeline import Pipelined
from fpgaq.templating import template_environment

__all__ = [
    "ADDER_FAMILIES",
    "PARTITIONS",
    "TEMPLATE_DIR",
    "XILINX_CELLS",
    "Module",
    "adder_module",
    "adder_module_name",
    "emit_verilog",
    "uses_ternary_adders",
    "verilog_identifier",
    "xilinx_cell_models",
]

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "rtl"
PARTITIONS = ("layer", "flat")

# Verilog-2005 keywords, and SystemVerilog ones that tools reject as identifiers.
_KEYWORD_TEXT = """
    always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config deassign default
    defparam design disable edge else end endcase endconfig endfunction endgenerate endmodule endprimitive
    endspecify endtable endtask event for force forever fork function generate genvar highz0 highz1 if ifnone
    incdir include initial inout input instance integer join large liblist library localparam macromodule
    medium module nand negedge nmos nor noshowcancelled not notif0 notif1 or output parameter pmos posedge
    primitive pull0 pull1 pulldown pullup pulsestyle_onevent pulsestyle_ondetect rcmos real realtime reg
    release repeat rnmos rpmos rtran rtranif0 rtranif1 scalared showcancelled signed small specify specparam
    strong0 strong1 supply0 supply1 table task time tran tranif0 tranif1 tri tri0 tri1 triand trior trireg
    unsigned use uwire vectored wait wand weak0 weak1 while wire wor xnor xor bit byte logic int shortint
    longint
"""
_KEYWORDS = frozenset(_KEYWORD_TEXT.split())


def verilog_identifier(name: str) -> str:
    """``name`` as a Verilog identifier: letters, digits and ``_``, not starting with a digit, not a keyword."""
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name)
    ident = re.sub(r"_+", "_", ident).strip("_") or "design"
    if ident[0].isdigit():
        ident = f"n_{ident}"
    if ident in _KEYWORDS:
        ident = f"{ident}_"
    return ident


def _lit(value: int, width: int) -> str:
    return f"{width}'d{value % (1 << width)}"


@dataclasses.dataclass
class Decl:
    """One declared signal: ``kind`` wire (with ``expr``), reg (assigned in an always block) or rom."""

    name: str
    width: int
    kind: str = "wire"
    expr: str = ""
    waive: bool = False
    cases: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    default: str = ""
    comment: str = ""
    port: bool = False  # declared by an output port: the body only assigns it
    init: str = ""  # a register's initial value (see _table_index_registers)


@dataclasses.dataclass
class Port:
    direction: str
    name: str
    width: int
    waive: bool = False
    net: str = "wire"


@dataclasses.dataclass
class Module:
    """What the module template spells; ``regs`` group (enable condition, [(target, source)])."""

    name: str
    comment: str
    ports: list[Port]
    decls: list[Decl]
    regs: list[tuple[str, list[tuple[str, str]]]]
    instances: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    top: dict[str, Any] | None = None


class _Spell:
    """Builds expressions for one module, recording which bits of each signal they read."""

    def __init__(self, names: dict[int, str], canon: dict[int, Signal]) -> None:
        self.names = names
        self.canon = canon
        self.used: dict[str, int] = {}

    def sig(self, s: Signal) -> Signal:
        return self.canon.get(s.id, s)

    def _mark(self, name: str, lo: int, hi: int) -> None:
        self.used[name] = self.used.get(name, 0) | (((1 << (hi - lo + 1)) - 1) << lo)

    def slice(self, s: Signal, lo: int, hi: int) -> str:
        name = self.names[s.id]
        self._mark(name, lo, hi)
        if lo == 0 and hi == s.width - 1:
            return name
        return f"{name}[{hi}]" if lo == hi else f"{name}[{hi}:{lo}]"

    def ext(self, s: Signal, width: int, shift: int = 0) -> str:
        """Exactly ``width`` bits of ``s * 2**shift`` (two's complement, modulo ``2**width``)."""
        s = self.sig(s)
        if s.is_const:
            return _lit(s.lo << shift, width)
        avail = width - shift
        if avail <= 0:
            return _lit(0, width)
        ws = s.width
        if ws >= avail:
            core = self.slice(s, 0, avail - 1)
        else:
            pad = avail - ws
            body = self.slice(s, 0, ws - 1)
            if s.signed:
                top = self.slice(s, ws - 1, ws - 1)
                core = f"{{{{{pad}{{{top}}}}}, {body}}}"
            else:
                core = f"{{{pad}'d0, {body}}}"
        return f"{{{core}, {shift}'d0}}" if shift else core

    def shr(self, s: Signal, k: int, width: int) -> str:
        """Exactly ``width`` bits of ``floor(s / 2**k)``."""
        s = self.sig(s)
        if s.is_const:
            return _lit(s.lo >> k, width)
        ws = s.width
        if ws <= k:
            if not s.signed:
                return _lit(0, width)
            top = self.slice(s, ws - 1, ws - 1)
            return f"{{{width}{{{top}}}}}"
        have = ws - k
        if have >= width:
            return self.slice(s, k, k + width - 1)
        body = self.slice(s, k, ws - 1)
        if s.signed:
            top = self.slice(s, ws - 1, ws - 1)
            return f"{{{{{width - have}{{{top}}}}}, {body}}}"
        return f"{{{width - have}'d0, {body}}}"

    def cmp_const(self, a: Signal, op: str, c: int) -> str:
        a = self.sig(a)
        if a.lo >= 0 and c >= 0:
            w = max(a.width, c.bit_length(), 1)
            return f"{self.ext(a, w)} {op} {_lit(c, w)}"
        w = bits_for_range(min(a.lo, c, -1), max(a.hi, c, 0))[0]
        return f"$signed({self.ext(a, w)}) {op} $signed({_lit(c, w)})"

    def cmp(self, a: Signal, op: str, b: Signal) -> str:
        a, b = self.sig(a), self.sig(b)
        if b.is_const:
            return self.cmp_const(a, op, b.lo)
        if a.lo >= 0 and b.lo >= 0:
            w = max(a.width, b.width)
            return f"{self.ext(a, w)} {op} {self.ext(b, w)}"
        w = bits_for_range(min(a.lo, b.lo, -1), max(a.hi, b.hi, 0))[0]
        return f"$signed({self.ext(a, w)}) {op} $signed({self.ext(b, w)})"

    def bit1(self, s: Signal) -> str:
        s = self.sig(s)
        return self.slice(s, 0, 0)


def _add_expr(sp: _Spell, op: Op, width: int) -> str:
    a, b = (sp.sig(x) for x in op.args)
    sa, sb, subtract = op.param
    sym = "-" if subtract else "+"
    shift = sa or sb
    if shift == 0:
        return f"{sp.ext(a, width)} {sym} {sp.ext(b, width)}"
    shifted_is_a = sa > 0
    if subtract and shifted_is_a:  # (a << s) - b: no bits pass through
        return f"{sp.ext(a, width, sa)} {sym} {sp.ext(b, width, sb)}"
    shifted, other = (a, b) if shifted_is_a else (b, a)
    if shift >= width:
        return sp.ext(other, width)
    high = width - shift
    low = sp.ext(other, shift)
    if shifted_is_a:
        hi_expr = f"{sp.ext(shifted, high)} {sym} {sp.shr(other, shift, high)}"
    else:
        hi_expr = f"{sp.shr(other, shift, high)} {sym} {sp.ext(shifted, high)}"
    return f"{{{hi_expr}, {low}}}"


def _expr(sp: _Spell, op: Op, width: int) -> str:
    """The right-hand side of a combinational op, ``width`` bits."""
    k, args = op.kind, op.args
    if k == "add":
        return _add_expr(sp, op, width)
    if k == "neg":
        return f"{_lit(0, width)} - {sp.ext(args[0], width)}"
    if k == "shl":
        return sp.ext(args[0], width, op.param)
    if k == "shr":
        return sp.shr(args[0], op.param, width)
    if k == "wrap":
        return sp.ext(args[0], width)
    if k == "clip":
        lo, hi, to_lo, to_hi = op.param
        a = args[0]
        expr = sp.ext(a, width)
        if hi is not None:
            expr = f"({sp.cmp_const(a, '>', hi)}) ? {_lit(to_hi, width)} : {expr}"
        if lo is not None:
            expr = f"({sp.cmp_const(a, '<', lo)}) ? {_lit(to_lo, width)} : {expr}"
        return expr
    if k in ("max", "min"):
        a, b = args
        rel = ">" if k == "max" else "<"
        return f"({sp.cmp(a, rel, b)}) ? {sp.ext(a, width)} : {sp.ext(b, width)}"
    if k == "bit":
        a = sp.sig(args[0])
        return sp.slice(a, op.param, op.param)
    if k == "mux":
        return f"{sp.bit1(args[0])} ? {sp.ext(args[1], width)} : {sp.ext(args[2], width)}"
    if k == "mul":
        return f"$signed({sp.ext(args[0], width)}) * $signed({sp.ext(args[1], width)})"
    if k == "mulc":
        return f"$signed({sp.ext(args[0], width)}) * $signed({_lit(op.param, width)})"
    raise ValueError(f"no Verilog spelling for op kind {k!r}")  # pragma: no cover - closed set


def _table_index_registers(net: Netlist, ops: Sequence[Op]) -> set[int]:
    """Registers that a table's index is wired from.

    Yosys (0.23 and 0.70) merges such a register into the table's read port
    (``memory_dff``) and, since every fpgaq register has a clock enable,
    rebuilds the enabled read port in logic at 1.5 to 4 times the table's own
    LUTs (a 7-bit sigmoid table: 45 LUTs for 13; 37 for 12 in 0.70).  A
    register with an initial value (an ``initial`` assignment) is not merged, so these registers get
    one (zero: nothing reads a register before its first valid sample).
    """
    found: set[int] = set()
    for op in ops:
        if op.kind != "rom":
            continue
        src = net.producer(op.args[0])
        while src.kind in NET_WIRING_OPS:  # wires: a table read through them reads the signal behind
            src = net.producer(src.args[0])
        if src.kind in ("reg", "hold"):
            found.add(src.out.id)
    return found


class _Builder:
    """Assigns ops to modules and spells each module."""

    def __init__(self, p: Pipelined, top: str, partition: str) -> None:
        if partition not in PARTITIONS:
            raise ValueError(f"partition {partition!r} is not supported; choose one of {', '.join(PARTITIONS)}")
        self.p = p
        self.top = top
        self.net = p.net
        self.ops = self.net.live()
        self.names = {op.out.id: f"s{op.out.id}" for op in self.ops}
        # relabels (shl by 0) are the same wire: read the original
        self.canon: dict[int, Signal] = {}
        for op in self.ops:
            if op.kind == "shl" and op.param == 0:
                src = self.canon.get(op.args[0].id, op.args[0])
                self.canon[op.out.id] = src
        layer_names: dict[str, str] = {}
        used_idents = {top}
        for node in p.node_stages:
            ident = f"{top}_{verilog_identifier(node)}"
            while ident in used_idents:
                ident += "_"
            used_idents.add(ident)
            layer_names[node] = ident
        self.module_of: dict[int, str] = {}
        for op in self.ops:
            owner = p.owner.get(op.out.id)
            if op.kind in ("input", "phase") or owner is None or partition == "flat":
                self.module_of[op.out.id] = top
            else:
                self.module_of[op.out.id] = layer_names[owner]
        used = set(self.module_of.values())
        self.order = [top] + [layer_names[n] for n in p.node_stages if layer_names[n] in used]
        self.latency = p.latency
        self.layer_names = layer_names
        self.spells: dict[str, _Spell] = {}
        self.valid_bits: dict[str, set[int]] = {}
        self.initialised = _table_index_registers(self.net, self.ops)

    def _emitted(self, op: Op) -> bool:
        return op.kind != "const" and op.out.id not in self.canon

    def _reads(self, op: Op) -> list[Signal]:
        return [self.canon.get(a.id, a) for a in op.args if not self.canon.get(a.id, a).is_const]

    def build(self) -> list[Module]:
        consumers: dict[int, set[str]] = {}
        for op in self.ops:
            if not self._emitted(op):
                continue
            for a in self._reads(op):
                consumers.setdefault(a.id, set()).add(self.module_of[op.out.id])
        outputs = [self.canon.get(s.id, s) for _, sigs, _ in self.net.outputs for s in sigs]
        for s in outputs:
            if not s.is_const:
                consumers.setdefault(s.id, set()).add(self.top)
        by_module: dict[str, list[Op]] = {m: [] for m in self.order}
        for op in self.ops:
            if self._emitted(op):
                by_module[self.module_of[op.out.id]].append(op)
        modules = []
        for name in self.order[1:]:
            modules.append(self._module(name, by_module[name], consumers))
        top = self._module(self.top, by_module[self.top], consumers)
        self._top_extras(top, modules)
        return [top, *modules]

    # ------------------------------------------------------------------ one module
    def _module(self, name: str, ops: list[Op], consumers: dict[int, set[str]]) -> Module:
        sp = _Spell(self.names, self.canon)
        is_top = name == self.top
        decls: list[Decl] = []
        regs: dict[str, list[tuple[str, str]]] = {}
        valid_bits: set[int] = set()
        instances: list[dict[str, Any]] = []
        for op in ops:
            if op.kind == "add3":
                decls += self._add3(sp, op, instances)
            else:
                decls += self._decls(sp, op, is_top, regs, valid_bits)
        local_ids = {op.out.id for op in ops}
        inputs: dict[int, Signal] = {}
        for op in ops:
            for a in self._reads(op):
                if a.id not in local_ids:
                    inputs[a.id] = a
        exported = {self.names[op.out.id] for op in ops if consumers.get(op.out.id, set()) - {name}}
        ports: list[Port] = []
        if not is_top:
            if regs:
                ports += [Port("input", "clk", 1), Port("input", "en", 1)]
            ports += [Port("input", f"v{b}", 1) for b in sorted(valid_bits)]
            for sid in sorted(inputs):
                nm, width = self.names[sid], inputs[sid].width
                ports.append(Port("input", nm, width, waive=sp.used.get(nm, 0) != (1 << width) - 1))
            for d in decls:
                if d.name in exported:
                    ports.append(Port("output", d.name, d.width, net="reg" if d.kind in ("reg", "rom") else "wire"))
                    d.port = True
        for d in decls:
            d.waive = not d.port and sp.used.get(d.name, 0) != (1 << d.width) - 1 and d.name not in exported
        reg_groups = sorted(regs.items(), key=lambda kv: (kv[0] != "en", kv[0]))
        mod = Module(name, self._comment(name), ports, decls, reg_groups, instances)
        self.spells[name] = sp
        self.valid_bits[name] = valid_bits
        return mod

    def _decls(
        self, sp: _Spell, op: Op, is_top: bool, regs: dict[str, list[tuple[str, str]]], valid_bits: set[int]
    ) -> list[Decl]:
        s, k = op.out, op.kind
        nm, w = self.names[s.id], s.width
        if k == "input":
            t, e = op.param
            off = self._input_offset(t) + e * self.net.inputs[t][2].width
            sp._mark("in_data", off, off + w - 1)
            return [Decl(nm, w, "wire", f"in_data[{off + w - 1}:{off}]" if w > 1 else f"in_data[{off}]")]
        init = _lit(0, w) if s.id in self.initialised else ""  # a register that feeds a table's index
        if k == "reg":
            regs.setdefault("en", []).append((nm, sp.ext(op.args[0], w)))
            return [Decl(nm, w, "reg", init=init)]
        if k == "hold":
            stage = op.param[1]
            valid_bits.add(stage)
            regs.setdefault(f"en && {self._v(stage, is_top)}", []).append((nm, sp.ext(op.args[0], w)))
            return [Decl(nm, w, "reg", comment=f"held for the phases of fold group {op.param[0]}", init=init)]
        if k == "rom":
            entries, base = op.param
            a = sp.sig(op.args[0])
            sel = sp.slice(a, 0, a.width - 1)
            cases = [(_lit(base + i, a.width), _lit(v, w)) for i, v in enumerate(entries)]
            default = "" if len(entries) == (1 << a.width) else _lit(entries[0], w)
            return [Decl(nm, w, "rom", expr=sel, cases=cases, default=default)]
        if k == "phase":
            valid_bits.add(op.param[3])
            return [Decl(nm, w, "wire", self._v(op.param[3], is_top))]
        if k == "accum":
            g, phases, reg_lo, reg_hi, first = op.param
            mid = [first + p for p in range(phases - 1)]  # phase p is the valid bit of stage first + p
            valid_bits.update(mid)
            lo, hi = min(reg_lo, s.lo, 0), max(reg_hi, s.hi, 0)
            wr = bits_for_range(lo, hi)[0]  # the adder: every prefix sum, the last one too
            wa, acc_signed = bits_for_range(reg_lo, max(reg_hi, reg_lo))  # the register: all but the last
            acc, nxt = f"{nm}_acc", f"{nm}_next"
            # The register holds the sum of the phases so far and is zero outside a sample's phases
            # 0 .. R-2 (samples come at least R enabled cycles apart), so the adder adds it as it is.
            # Zeroing it is a synchronous reset taking priority over the enable (a later ``if`` in
            # the same block): the flip-flops' reset pin, where clearing it on phase 0 in front of
            # the adder cost a LUT per bit.
            clear = "en && !(" + " || ".join(self._v(b, is_top) for b in mid) + ")"
            regs.setdefault("en", []).append((acc, nxt if wa == wr else f"{nxt}[{wa - 1}:0]"))
            regs.setdefault(clear, []).append((acc, _lit(0, wa)))
            sp._mark(acc, 0, wa - 1)
            view = Signal(-1 - s.id, lo, hi)  # the adder's output, read as a signal of the register's range
            sp.names[view.id] = nxt  # (negative ids never clash with netlist signals)
            out = sp.ext(view, w)
            return [
                Decl(acc, wa, "reg", comment=f"accumulator of fold group {g} ({phases} phases, zero between samples)"),
                Decl(nxt, wr, "wire", f"{sp.ext(op.args[0], wr)} + {self._extend(acc, wa, wr, acc_signed)}"),
                Decl(nm, w, "wire", out),
            ]
        return [Decl(nm, w, "wire", _expr(sp, op, w))]

    def _add3(self, sp: _Spell, op: Op, instances: list[dict[str, Any]]) -> list[Decl]:
        """A ternary adder: an instance of the design's adder module on the bits above those that
        pass through (:func:`fpgaq.rtl.netlist.add3_pass_through`), which are wired around it."""
        nm, w = self.names[op.out.id], op.out.width
        shifts, negs = op.param[:3], op.param[3:]
        through = min(add3_pass_through(op.param), w)
        args = [sp.sig(a) for a in op.args]
        finest = min(range(3), key=lambda i: shifts[i])
        if through == w:  # the other operands only reach bits above the result's range: all wiring
            return [Decl(nm, w, "wire", sp.ext(args[finest], w))]
        width = w - through
        operands = [
            sp.shr(a, through, width) if through and i == finest else sp.ext(a, width, shifts[i] - through)
            for i, a in enumerate(args)
        ]
        target = f"{nm}_hi" if through else nm
        instances.append(
            {
                "module": adder_module_name(self.top),
                "name": f"u_{nm}",
                "params": [("W", width), ("NA", int(negs[0])), ("NB", int(negs[1])), ("NC", int(negs[2]))],
                "ports": [("a", operands[0]), ("b", operands[1]), ("c", operands[2]), ("s", target)],
            }
        )
        if not through:
            return [Decl(nm, w, "net")]
        sp._mark(target, 0, width - 1)
        low = sp.ext(args[finest], through)
        return [Decl(target, width, "net"), Decl(nm, w, "wire", f"{{{target}, {low}}}")]

    def _comment(self, name: str) -> str:
        if name == self.top:
            return f"{name}: top level of the fpgaq design ({self.latency} cycles latency, II {self.p.ii})"
        nodes = [n for n, m in self.layer_names.items() if m == name]
        return f"{name}: layer {', '.join(nodes)}"

    @staticmethod
    def _extend(name: str, width: int, to: int, signed: bool) -> str:
        """``name`` (``width`` bits, two's complement when ``signed``) extended to ``to`` bits.  Not
        :meth:`_Spell.ext`: that reads a signal of a one-value range as the constant, and the accumulator
        register, zero in every phase when the first R-1 phases' weights are, must still be read."""
        if width >= to:
            return name
        top = f"{{{to - width}{{{name}[{width - 1}]}}}}" if signed else f"{to - width}'d0"
        return f"{{{top}, {name}}}"

    def _v(self, stage: int, is_top: bool) -> str:
        return f"v[{stage}]" if is_top else f"v{stage}"

    def _input_offset(self, t: int) -> int:
        return sum(tt.width * len(sigs) for _, sigs, tt in self.net.inputs[:t])

    # ------------------------------------------------------------------ the top level
    def _top_extras(self, top: Module, modules: list[Module]) -> None:
        sp = self.spells[self.top]
        out_parts = []
        offset = 0
        for _, sigs, t in self.net.outputs:
            for s in sigs:
                out_parts.append((offset + t.width - 1, offset, sp.ext(s, t.width)))
                offset += t.width
        in_bits = sum(t.width * len(sigs) for _, sigs, t in self.net.inputs)
        valid_used = set(self.valid_bits[self.top])
        declared = {d.name for d in top.decls}
        for m in modules:
            conns = []
            for port in m.ports:
                if port.name in ("clk", "en"):
                    conns.append((port.name, port.name))
                elif re.fullmatch(r"v\d+", port.name):
                    conns.append((port.name, f"v[{port.name[1:]}]"))
                    valid_used.add(int(port.name[1:]))
                else:
                    conns.append((port.name, port.name))
                    if port.direction == "input":
                        sp._mark(port.name, 0, port.width - 1)
                    elif port.name not in declared:
                        top.decls.append(Decl(port.name, port.width, "net"))
                        declared.add(port.name)
            top.instances.append(
                {"module": m.name, "name": f"u_{m.name[len(self.top) + 1 :]}", "params": [], "ports": conns}
            )
        for d in top.decls:
            d.waive = sp.used.get(d.name, 0) != (1 << d.width) - 1
        lat = self.latency
        valid_used.add(lat)
        top.top = {
            "in_bits": max(in_bits, 1),
            "out_bits": max(offset, 1),
            "latency": lat,
            "ii": self.p.ii,
            "in_waive": sp.used.get("in_data", 0) != (1 << in_bits) - 1,
            "out_parts": out_parts,
            "valid_waive": any(b not in valid_used for b in range(lat + 1)),
        }


#: Spellings of the ternary adder module: any tool (``+``), Xilinx 7-series (LUT6_2 + CARRY4) and
#: UltraScale+ (LUT6_2 + CARRY8).  The bits one carry cell spans, per Xilinx family.
ADDER_FAMILIES = ("generic", "xc7", "xcup")
_CARRY_SPAN = {"xc7": 4, "xcup": 8}
#: The Xilinx cells the Xilinx spellings instantiate; fpgaq ships its own models of them for Verilator.
XILINX_CELLS = ("LUT6_2", "CARRY4", "CARRY8")


def adder_module_name(top: str) -> str:
    """The ternary adder module of design ``top`` (named after it, so two designs can share a build)."""
    return f"{top}_add3"


def uses_ternary_adders(p: Pipelined) -> bool:
    return any(op.kind == "add3" for op in p.net.live())


def adder_module(top: str, family: str, header: Sequence[str] = ()) -> str:
    """The Verilog of design ``top``'s ternary adder module in one of :data:`ADDER_FAMILIES`."""
    if family not in ADDER_FAMILIES:
        raise ValueError(f"adder family {family!r} is not one of {', '.join(ADDER_FAMILIES)}")
    return (
        environment()
        .get_template("add3.v.j2")
        .render(name=adder_module_name(top), family=family, span=_CARRY_SPAN.get(family, 0), header=list(header))
    )


def xilinx_cell_models() -> dict[str, str]:
    """``{cell: Verilog}``: fpgaq's own simulation models of :data:`XILINX_CELLS`, one module per file.

    For simulators only: synthesis tools know these cells (Yosys has them built in) and must not read
    them.  ``tests/rtl/test_ternary_adders.py`` proves them equal to Yosys' own models.
    """
    env = environment()
    return {cell: env.get_template(f"xilinx_sim/{cell}.v.j2").render() for cell in XILINX_CELLS}


@functools.cache
def environment() -> jinja2.Environment:
    """The RTL templates' environment, parsed once per process (templates are cached inside it)."""
    return template_environment(TEMPLATE_DIR)


def _range(width: int) -> str:
    return f"[{width - 1}:0] " if width > 1 else ""


def emit_verilog(p: Pipelined, top: str, partition: str = "layer", header: Sequence[str] = ()) -> dict[str, str]:
    """``{"rtl/<module>.v": text}`` in compile order (layer modules first, the top last)."""
    modules = _Builder(p, top, partition).build()
    env = environment()
    env.filters["range"] = _range
    files: dict[str, str] = {}
    top_mod, layers = modules[0], modules[1:]
    for m in layers:
        files[f"rtl/{m.name}.v"] = env.get_template("module.v.j2").render(m=m, header=list(header))
    files[f"rtl/{top_mod.name}.v"] = env.get_template("top.v.j2").render(m=top_mod, header=list(header))
    return files
