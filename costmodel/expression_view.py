"""What ``costmodel expr`` prints: a closed form as text, LaTeX or JSON.

The exact form is its named quantities (one line each) and the total over them; the smooth form is
the scaling law around the point, with its error against the exact count there and each leading
term's share; ``scale`` adds what multiplying some symbols does, exactly at the point and term by term.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import sympy

from costmodel import intmath, symbolic
from costmodel.conventions import Counting, get_counting
from costmodel.errors import UsageError, did_you_mean
from costmodel.forms import MAKE_DIVISIBLE_TEXT, ClosedForm
from costmodel.model import Model, Point
from costmodel.report import plain_number


def _text(value: Any, fmt: str) -> str:
    return sympy.latex(value) if fmt == "latex" else sympy.sstr(value)


def _functions(exprs: list[Any]) -> dict[str, str]:
    """The functions a reader must know to read these expressions (beyond sympy's own)."""
    function = intmath.make_divisible_function()
    return {"make_divisible": MAKE_DIVISIBLE_TEXT} if any(sympy.sympify(e).has(function) for e in exprs) else {}


def expression_output(
    model: Model,
    metric: str,
    counting: Counting | str,
    point: Point,
    fixed_values: Mapping[str, Fraction],
    *,
    per_layer: bool = False,
    per_type: bool = False,
    smooth: bool = False,
    scale: Mapping[str, Fraction] | None = None,
    fmt: str = "text",
) -> str:
    """``point`` is where the smooth form is taken and errors and shares are given (the user's fixed
    symbols, the defaults elsewhere); ``fixed_values`` are the symbols the user fixed."""
    counting = get_counting(counting)
    by = "type" if per_type else "layer"
    whole = symbolic.form(model, metric, counting, by).fix(symbolic.substitution(model, fixed_values))
    view = _View(model, metric, counting, point, whole, fixed_values, per_layer or per_type, fmt)
    if scale:
        return view.render(view.scaling(scale, by))
    return view.render(view.smooth(by) if smooth else view.exact())


class _View:
    def __init__(
        self,
        model: Model,
        metric: str,
        counting: Counting,
        point: Point,
        whole: ClosedForm,
        fixed: Mapping[str, Fraction],
        show_parts: bool,
        fmt: str,
    ) -> None:
        self.model, self.metric, self.counting, self.point = model, metric, counting, point
        self.whole, self.fixed, self.show_parts, self.fmt = whole, fixed, show_parts, fmt
        self.values = model.substitution(point)
        self.exact_total = int(whole.evaluate(self.values))

    def _symbols(self, exprs: list[Any]) -> dict[str, Any]:
        names = {str(s) for e in exprs for s in sympy.sympify(e).free_symbols}
        return {n: plain_number(s.default) for n, s in self.model.spec.symbols.items() if n in names}

    def _data(self, form: str) -> dict[str, Any]:
        return {
            "model": self.model.name,
            "metric": self.metric,
            "counting": self.counting.name,
            "macs_convention": self.counting.macs.name,
            "form": form,
            "fixed": {name: plain_number(v) for name, v in sorted(self.fixed.items())},
            "point": {name: plain_number(v) for name, v in self.point.values.items()},
        }

    def exact(self) -> dict[str, Any]:
        whole = self.whole
        parts = whole.parts if self.show_parts else {}
        definitions = whole.used([whole.body, *parts.values()])
        expression = whole.inline()
        data = self._data("exact")
        data.update(
            expression=sympy.sstr(expression),
            functions=_functions([expression]),
            definitions={str(s): sympy.sstr(d) for s, d in definitions.items()},
            body=sympy.sstr(whole.body),
            symbols=self._symbols([expression]),
            value=self.exact_total,
        )
        if parts:
            data["parts"] = {name: sympy.sstr(part) for name, part in parts.items()}
        data["_definitions"] = definitions
        data["_body"] = whole.body
        data["_parts"] = parts
        return data

    def smooth(self, by: str) -> dict[str, Any]:
        model, point = self.model, self.point
        total = symbolic.smooth(model, self.metric, self.counting, point, self.fixed, by=by)
        parts = {}
        if self.show_parts:
            names = symbolic.form(model, self.metric, self.counting, by).parts
            parts = {n: symbolic.smooth(model, self.metric, self.counting, point, self.fixed, n, by) for n in names}
        value = total.xreplace(self.values)
        unrounded = symbolic.smooth(model, self.metric, self.counting, point, self.fixed, by=by, factors=False)
        unrounded_value = unrounded.xreplace(self.values)
        data = self._data("smooth")
        data.update(
            expression=sympy.sstr(total),
            functions={},
            definitions={},
            body=sympy.sstr(total),
            symbols=self._symbols([total]),
            value=float(value),
            exact=self.exact_total,
            error=float(Fraction(str(value)) / self.exact_total - 1) if self.exact_total else 0.0,
            unrounded_error=float(Fraction(str(unrounded_value)) / self.exact_total - 1) if self.exact_total else 0.0,
            terms=self._terms(total),
        )
        if parts:
            data["parts"] = {name: sympy.sstr(part) for name, part in parts.items()}
        data["_body"] = total
        data["_parts"] = parts
        return data

    def _scaling(self) -> list[Any]:
        roles = self.model.roles
        return [self.model.sympy_symbols[s] for s in (roles.width, roles.resolution) if s is not None]

    def _terms(self, total: Any, factors: Mapping[Any, Fraction] | None = None) -> list[dict[str, Any]]:
        terms = symbolic.leading_terms(total, self._scaling())
        value = total.xreplace(self.values)
        rows = []
        for term in terms:
            at = (term.coefficient * term.monomial).xreplace(self.values)
            row: dict[str, Any] = {
                "coefficient": sympy.sstr(term.coefficient),
                "monomial": sympy.sstr(term.monomial),
                "share": float(at / value) if value else 0.0,
                "_term": term,
            }
            if factors is not None:
                row["ratio"] = sympy.sstr(term.monomial.xreplace(factors) / term.monomial)
            rows.append(row)
        return rows

    def scaling(self, factors: Mapping[str, Fraction], by: str) -> dict[str, Any]:
        """What multiplying some symbols does: exactly at the point, and in the smooth form."""
        model = self.model
        for name in factors:
            if name not in model.spec.symbols:
                known = ", ".join(model.spec.symbols)
                raise UsageError(
                    f"{model.name} has no symbol '{name}'{did_you_mean(name, model.spec.symbols)} ({known})"
                )
        scaled_point = symbolic.scaled_point(model, self.point, factors)
        exact_scaled = int(self.whole.evaluate(model.substitution(scaled_point)))
        data = self.smooth(by)
        total = data["_body"]
        symbols = model.sympy_symbols
        substitution = {symbols[n]: symbols[n] * sympy.Rational(f.numerator, f.denominator) for n, f in factors.items()}
        ratio = sympy.cancel(total.xreplace(substitution) / total)
        data["form"] = "scale"
        data["_scaled_point"] = scaled_point
        data["scale"] = {
            "factors": {name: str(f) for name, f in factors.items()},
            "scaled_point": {name: plain_number(v) for name, v in scaled_point.values.items()},
            "exact": {
                "before": self.exact_total,
                "after": exact_scaled,
                "ratio": _ratio(exact_scaled, self.exact_total),
            },
            "smooth_ratio": sympy.sstr(ratio),
            "smooth_ratio_at_point": float(ratio.xreplace(self.values)),
        }
        data["terms"] = self._terms(total, substitution)
        return data

    # -- rendering ---------------------------------------------------------------------------------

    def render(self, data: dict[str, Any]) -> str:
        if self.fmt == "json":
            public = {k: v for k, v in data.items() if not k.startswith("_")}
            public["terms"] = [{k: v for k, v in t.items() if not k.startswith("_")} for t in data.get("terms", [])]
            if not public["terms"]:
                del public["terms"]
            return json.dumps(public, indent=2, ensure_ascii=False) + "\n"
        return _Writer(self, data).text()


def _term_text(term: symbolic.Term) -> str:
    """``539492352 * alpha**2*rho**2``, ``(1024*num_classes) * alpha``, ``(-7/2) * rho``: a coefficient
    that is not a plain count goes in brackets, so the term reads unambiguously."""
    coefficient = term.coefficient
    text = sympy.sstr(coefficient)
    if not (coefficient.is_Integer and coefficient > 0):
        text = f"({text})"
    return text if term.monomial == 1 else f"{text} * {sympy.sstr(term.monomial)}"


def _ratio(after: int, before: int) -> str:
    if not before:
        return "—"
    exact = Fraction(after, before)
    return f"{exact.numerator}/{exact.denominator} ≈ {float(exact):.4g}" if exact.denominator != 1 else str(exact)


def _where(point: Point) -> str:
    """``alpha = 0.75, rho = 6/7 (192 px), num_classes = 1000``."""
    parts = []
    for name, value in point.values.items():
        shown = str(value) if value.denominator != 1 and len(str(value)) < 8 else str(plain_number(value))
        parts.append(f"{name} = {shown}")
    side = f" ({point.label} px)" if point.label is not None else ""
    return ", ".join(parts) + side


class _Writer:
    """Text and LaTeX."""

    def __init__(self, view: _View, data: dict[str, Any]) -> None:
        self.view, self.data, self.fmt = view, data, view.fmt

    def line(self, name: str, value: Any) -> str:
        if self.fmt == "latex":
            return f"{sympy.latex(sympy.Symbol(name))} &= {sympy.latex(value)} \\\\"
        return f"  {name} = {sympy.sstr(value)}"

    def text(self) -> str:
        view, data = self.view, self.data
        form = data["form"]
        kind = "exact" if form == "exact" else "smooth"
        label = f"{view.metric} of {view.model.name} ({kind}, counting: {view.counting.name}"
        if view.metric in ("macs", "flops") and view.counting.macs.rules:
            label += f", MACs as {view.counting.macs.name} counts them"
        label += ")"
        lines = [f"{label}:" if self.fmt == "text" else f"% {label}"]
        if self.fmt == "latex":
            lines.append("\\begin{aligned}")
        for symbol, definition in data.get("_definitions", {}).items():
            lines.append(self.line(str(symbol), definition))
        for name, part in data["_parts"].items():
            lines.append(self.line(name, part) if self.fmt == "latex" else f"  {name}: {_text(part, 'text')}")
        lines.append(self.line("total", data["_body"]))
        if self.fmt == "latex":
            lines[-1] = lines[-1].removesuffix(" \\\\")
            lines.append("\\end{aligned}")
            return "\n".join(lines) + "\n"
        if data["functions"]:
            lines.append("where " + data["functions"]["make_divisible"])
        if form in ("smooth", "scale"):
            lines += self.smooth_lines()
        if form == "scale":
            lines += self.scale_lines()
        if data["symbols"]:
            lines.append("symbols: " + ", ".join(f"{k} (default {v})" for k, v in data["symbols"].items()))
        return "\n".join(lines) + "\n"

    def smooth_lines(self) -> list[str]:
        data = self.data
        lines = [
            f"at {_where(self.view.point)}: smooth {data['value']:,.0f}, exact {data['exact']:,} ({data['error']:+.2%})"
        ]
        if abs(data["unrounded_error"] - data["error"]) >= 0.0005:
            lines.append(
                f"  make_divisible widens the network there: with its widths unrounded the law is off by "
                f"{data['unrounded_error']:+.2%}, so it keeps the widening as a factor"
            )
        terms = data.get("terms", [])
        if len(terms) > 1:
            lines.append("leading terms (share of the smooth total there):")
            texts = [_term_text(t["_term"]) for t in terms]
            width = max(len(text) for text in texts)
            for t, text in zip(terms, texts, strict=True):
                ratio = f"   × {t['ratio']}" if "ratio" in t else ""
                lines.append(f"  {text:<{width}}  {t['share']:6.1%}{ratio}")
        return lines

    def scale_lines(self) -> list[str]:
        scale = self.data["scale"]
        factors = ", ".join(f"{name} × {f}" for name, f in scale["factors"].items())
        exact = scale["exact"]
        return [
            f"what if {factors} (to {_where(self.data['_scaled_point'])}):",
            f"  exact: {exact['before']:,} -> {exact['after']:,}, ratio {exact['ratio']}",
            f"  smooth ratio: {scale['smooth_ratio']} = {scale['smooth_ratio_at_point']:.4g} there",
        ]
