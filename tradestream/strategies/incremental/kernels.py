"""The numba kernels of the incremental engine: one interpreter over a compiled program.

A *program* (``program.py``) is a table of operations in dependency order. Each row is
``(opcode, out, a, b, c, d, state offset, i0, i1, i2)`` in ``code`` plus four float
parameters in ``fconst``. Operations read the current bar's values of their inputs from
the slot vector ``vals`` (slots 0-6 are the candle's columns), write their output slot(s)
and keep whatever they need between bars in the stream's flat ``state`` vector, at their
offset. One call of ``step`` advances every stream (pair) of a program by one bar; one
call of ``run`` advances one stream over many bars (seeding, batch evaluation). Both go
through ``_exec`` so live and batch run the same arithmetic.

Why hand-written: the live engine must equal pandas-ta bit for bit (the backtests' and
the optimizer's numbers), and no maintained incremental library reproduces pandas-ta's
numerics (talipp, for one, seeds and sums differently; docs/signals.md has the check).
So each operation below replays, one bar at a time, exactly the floating-point steps of
the code pandas-ta (and pandas under it) runs over a whole series:

* pandas' rolling sum/mean/variance are online algorithms already (Kahan sums with
  separate add and remove compensations, Welford's variance, a run-length of equal
  values; ``pandas/_libs/window/aggregations.pyx``): replayed with the same state;
* pandas' ``ewm(adjust=False).mean()`` keeps (weighted, old weight): replayed;
* pandas-ta's SMA is numba's ``np.convolve``: a sequential dot product of the window with
  ``1/n`` weights (no BLAS without SciPy): replayed over a ring buffer;
* NumPy's ``sum``/``mean`` (linreg, MAD, pandas' ``nanmean`` of EMA seeds) is pairwise
  summation with eight accumulators: ``_pairwise`` replays it;
* NumPy's BLAS ``dot`` (MFI's ``np.convolve`` with ones, SWMA's weights): OpenBLAS's
  ddot kernel sums 32-, then 16-element blocks in vector lanes and the rest with fused
  multiply-adds. ``_blas_dot_ones`` and ``_fma_dot`` replay the AVX-512 kernel this
  machine class loads; on another kernel the sums can differ in the last place (the
  tests allow 1e-12 relative there, docs/signals.md).

Values are float64 everywhere; booleans are 1.0/0.0; integer state is stored as float
(exact below 2**53). ``error_model="numpy"``: x/0 gives inf or NaN as in pandas.
"""

from __future__ import annotations

import math

import llvmlite.ir as llir
import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from tradestream.strategies.custom import _double_kernel, _profile_kernel, _range_bar_kernel, _renko_kernel

# columns of ``code``
OP, OUT, A, B, C, D, SOFF, I0, I1, I2 = range(10)
CODE_WIDTH = 10
FCONST_WIDTH = 4
# the state header: bars applied since the state began
HEADER = 1
EPS = float(np.finfo(np.float64).eps)

# ---------------------------------------------------------------- opcodes (stable numbers: they are in snapshots)
CONST = 1
ADD, SUB, MUL, DIV, DIVNAN, MAXNAN, MINNAN = 2, 3, 4, 5, 6, 7, 8
ABS, SQRTX, SQRT, NEG = 9, 10, 11, 12
ADDC, SUBC, RSUBC, MULC, DIVC, RDIVC = 13, 14, 15, 16, 17, 18
GT, GE, LT, LE, AND, OR = 19, 20, 21, 22, 23, 24
NZR, ZERO, CLIPLO0, CLIPHI0, SIGN, POSNEG = 25, 26, 27, 28, 29, 30
SHIFT, PRESMA, EWM = 31, 32, 33
ROLLSUM, ROLLMEAN, ROLLVAR, ROLLMAX, ROLLMIN, ARGMAXR, ARGMINR = 34, 35, 36, 37, 38, 39, 40
DOTSEQ, DOTFMA, DOTBLAS1, LINREG, MAD, CUMSUM, PCTCHANGE, MASKHEAD, TRUERANGE = 41, 42, 43, 44, 45, 46, 47, 48, 49
PSARDIR, ATRTS, HA, KAMA, FRAMA, RENKO, RANGEBARS, DOUBLE, VPROFILE = 50, 51, 52, 53, 54, 55, 56, 57, 58
CROSSUP, CROSSDOWN, HELD, WITHIN, LOOKBACK, ISVAL = 59, 60, 61, 62, 63, 64


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (LLVM's fma intrinsic: the instruction, or libm's fma)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        double = llir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [double], llir.FunctionType(double, [double] * 3))
        return builder.call(fn, args)

    return sig, codegen


# ---------------------------------------------------------------- summation orders


@njit(cache=True)
def _pairwise_block(a: np.ndarray, lo: int, n: int) -> float:
    """NumPy's ``pairwise_sum`` of at most 128 values: eight accumulators, then the rest."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    end = n - (n % 8)
    while i < end:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


def _split_level(inner):
    """One level of NumPy's recursion (halves, rounded to multiples of 8, until <= 128 values).
    Written as a chain of functions: numba's cache cannot load recursive functions."""
    @njit(cache=True)
    def level(a: np.ndarray, lo: int, n: int) -> float:
        if n <= 128:
            return _pairwise_block(a, lo, n)
        n2 = n // 2
        n2 -= n2 % 8
        return inner(a, lo, n2) + inner(a, lo + n2, n - n2)
    return level


_pairwise_2 = _split_level(_pairwise_block)
_pairwise_3 = _split_level(_pairwise_2)
_pairwise_4 = _split_level(_pairwise_3)
_pairwise_5 = _split_level(_pairwise_4)
_pairwise_6 = _split_level(_pairwise_5)
MAX_PAIRWISE = 128 * 2 ** 5  # windows longer than this would need another level


@njit(cache=True)
def _pairwise(a: np.ndarray, lo: int, n: int) -> float:
    """NumPy's ``pairwise_sum`` of ``a[lo:lo + n]`` (what ``np.sum`` of a contiguous array does),
    for n up to MAX_PAIRWISE."""
    return _pairwise_6(a, lo, n)


@njit(cache=True)
def _blas_dot_ones(a: np.ndarray) -> float:
    """OpenBLAS ddot(a, ones) as its AVX-512 x86-64 kernel sums: 32-wide blocks in four
    8-lane accumulators, folded to 4 lanes, 16-wide blocks in four 4-lane accumulators,
    lanes folded, then the tail one by one."""
    n = a.size
    n1 = n & -16
    n32 = n1 & ~31
    acc = np.zeros((4, 4))
    i = 0
    if n32:
        z = np.zeros((4, 8))
        while i < n32:
            for k in range(4):
                for j in range(8):
                    z[k, j] = z[k, j] + a[i + 8 * k + j]
            i += 32
        for k in range(4):
            for j in range(4):
                acc[k, j] = z[k, j] + z[k, j + 4]
    while i < n1:
        for k in range(4):
            for j in range(4):
                acc[k, j] = acc[k, j] + a[i + 4 * k + j]
        i += 16
    dot = 0.0
    if n1:
        s0 = ((acc[0, 0] + acc[1, 0]) + acc[2, 0]) + acc[3, 0]
        s1 = ((acc[0, 1] + acc[1, 1]) + acc[2, 1]) + acc[3, 1]
        s2 = ((acc[0, 2] + acc[1, 2]) + acc[2, 2]) + acc[3, 2]
        s3 = ((acc[0, 3] + acc[1, 3]) + acc[2, 3]) + acc[3, 3]
        dot = (s0 + s2) + (s1 + s3)
    while i < n:
        dot = dot + a[i]
        i += 1
    return dot


# ---------------------------------------------------------------- ring buffers
# A ring of n values at offset r: st[r] = next write position, st[r + 1 : r + 1 + n] the values
# (NaN-initialised by the program's template). Bar counts come from the header.


@njit(cache=True)
def _ring_push(st: np.ndarray, r: int, n: int, x: float) -> float:
    """Stores x; returns the value it replaces (the one n bars ago, NaN before)."""
    pos = int(st[r])
    old = st[r + 1 + pos]
    st[r + 1 + pos] = x
    st[r] = (pos + 1) % n
    return old


@njit(cache=True)
def _ring_window(st: np.ndarray, r: int, n: int, out: np.ndarray) -> None:
    """The ring's values oldest first (call after the push of the current bar)."""
    pos = int(st[r])
    for j in range(n):
        out[j] = st[r + 1 + (pos + j) % n]


# ---------------------------------------------------------------- pandas' rolling aggregations


@njit(cache=True)
def _add_mean(st: np.ndarray, o: int, val: float) -> None:
    # o: sum_x, comp_add, comp_rem, nobs, neg_ct, ncs, prev_value
    if val == val:
        st[o + 3] += 1.0
        y = val - st[o + 1]
        t = st[o] + y
        st[o + 1] = t - st[o] - y
        st[o] = t
        if math.copysign(1.0, val) < 0.0:
            st[o + 4] += 1.0
        if val == st[o + 6]:
            st[o + 5] += 1.0
        else:
            st[o + 5] = 1.0
        st[o + 6] = val


@njit(cache=True)
def _remove_mean(st: np.ndarray, o: int, val: float) -> None:
    if val == val:
        st[o + 3] -= 1.0
        y = -val - st[o + 2]
        t = st[o] + y
        st[o + 2] = t - st[o] - y
        st[o] = t
        if math.copysign(1.0, val) < 0.0:
            st[o + 4] -= 1.0


@njit(cache=True)
def _rolling_sum_mean(st: np.ndarray, o: int, n: int, minp: int, x: float, i: int, mean: bool) -> float:
    """pandas' roll_sum / roll_mean over a fixed window of n, one bar. Layout at o:
    sum_x, comp_add, comp_rem, nobs, neg_ct, ncs, prev_value, ring(n)."""
    if math.isinf(x):
        x = np.nan  # pandas' _prep_values
    r = o + 7
    if i == 0 or n == 1:
        st[o] = 0.0
        st[o + 1] = 0.0
        st[o + 2] = 0.0
        st[o + 3] = 0.0
        st[o + 4] = 0.0
        st[o + 5] = 0.0
        st[o + 6] = x
        old = _ring_push(st, r, n, x)
        _add_mean(st, o, x)
    else:
        old = _ring_push(st, r, n, x)
        if i >= n:
            _remove_mean(st, o, old)
        _add_mean(st, o, x)
    nobs = st[o + 3]
    ncs = st[o + 5]
    if mean:
        if nobs >= minp and nobs > 0:
            result = st[o] / nobs
            if ncs >= nobs:
                result = st[o + 6]
            elif st[o + 4] == 0 and result < 0:
                result = 0.0
            elif st[o + 4] == nobs and result > 0:
                result = 0.0
            return result
        return np.nan
    if nobs == 0 and minp == 0:
        return 0.0
    if nobs >= minp:
        if ncs >= nobs:
            return st[o + 6] * nobs
        return st[o]
    return np.nan


@njit(cache=True)
def _add_var(st: np.ndarray, o: int, val: float) -> None:
    # o: mean_x, ssqdm_x, nobs, comp_add, comp_rem, ncs, prev_value
    if val != val:
        return
    st[o + 2] += 1.0
    if val == st[o + 6]:
        st[o + 5] += 1.0
    else:
        st[o + 5] = 1.0
    st[o + 6] = val
    prev_mean = st[o] - st[o + 3]
    y = val - st[o + 3]
    t = y - st[o]
    st[o + 3] = t + st[o] - y
    delta = t
    if st[o + 2]:
        st[o] = st[o] + delta / st[o + 2]
    else:
        st[o] = 0.0
    st[o + 1] = st[o + 1] + (val - prev_mean) * (val - st[o])


@njit(cache=True)
def _remove_var(st: np.ndarray, o: int, val: float) -> None:
    if val == val:
        st[o + 2] -= 1.0
        if st[o + 2]:
            prev_mean = st[o] - st[o + 4]
            y = val - st[o + 4]
            t = y - st[o]
            st[o + 4] = t + st[o] - y
            delta = t
            st[o] = st[o] - delta / st[o + 2]
            st[o + 1] = st[o + 1] - (val - prev_mean) * (val - st[o])
        else:
            st[o] = 0.0
            st[o + 1] = 0.0


@njit(cache=True)
def _rolling_var(st: np.ndarray, o: int, n: int, minp: int, ddof: int, x: float, i: int) -> float:
    """pandas' roll_var (Welford with Kahan compensation) over a fixed window of n, one bar."""
    if math.isinf(x):
        x = np.nan
    minp = max(minp, 1)
    r = o + 7
    if i == 0 or n == 1:
        for k in range(6):
            st[o + k] = 0.0
        st[o + 6] = x
        _ring_push(st, r, n, x)
        _add_var(st, o, x)
    else:
        old = _ring_push(st, r, n, x)
        if i >= n:
            _remove_var(st, o, old)
        _add_var(st, o, x)
    nobs = st[o + 2]
    if nobs >= minp and nobs > ddof:
        if nobs == 1 or st[o + 5] >= nobs:
            return 0.0
        return st[o + 1] / (nobs - ddof)
    return np.nan


@njit(cache=True)
def _rolling_extreme(st: np.ndarray, o: int, n: int, minp: int, x: float, i: int, highest: bool) -> float:
    """pandas' rolling max/min (NaN skipped, inf counted as NaN), exact: a monotonic deque of the
    window's candidates (amortised O(1) a bar). Layout: non-NaN count, deque head, deque size,
    ring of the raw window (n + 1), deque values (n), deque bar indices (n)."""
    if math.isinf(x):
        x = np.nan
    r = o + 3
    dv = r + 1 + n
    di = dv + n
    old = _ring_push(st, r, n, x)
    if i >= n and old == old:
        st[o] -= 1.0
    head = int(st[o + 1])
    size = int(st[o + 2])
    while size and st[di + head] <= i - n:  # candidates that left the window
        head = (head + 1) % n
        size -= 1
    if x == x:
        st[o] += 1.0
        while size:
            back = (head + size - 1) % n
            if (st[dv + back] <= x) if highest else (st[dv + back] >= x):
                size -= 1
            else:
                break
        slot = (head + size) % n
        st[dv + slot] = x
        st[di + slot] = i
        size += 1
    st[o + 1] = head
    st[o + 2] = size
    if st[o] >= max(minp, 1) and size:
        return st[dv + head]
    return np.nan


@njit(cache=True)
def _recent_extreme_index(st: np.ndarray, r: int, n: int, x: float, i: int, highest: bool) -> float:
    """``rolling(n).apply(recent_maximum_index)``: bars since the window's most recent extreme."""
    if math.isinf(x):
        x = np.nan
    _ring_push(st, r, n, x)
    if i + 1 < n:
        return np.nan
    pos = int(st[r])
    best = np.nan
    at = 0
    for k in range(n):  # newest first: np.argmax(x[::-1]) keeps the first (most recent) extreme
        v = st[r + 1 + (pos - 1 - k) % n]
        if v != v:
            return np.nan
        if k == 0 or (v > best if highest else v < best):
            best = v
            at = k
    return float(at)


# ---------------------------------------------------------------- the interpreter


@njit(cache=True, error_model="numpy")
def _exec(code: np.ndarray, fc: np.ndarray, wts: np.ndarray, st: np.ndarray, v: np.ndarray) -> None:
    """Runs every operation of the program once: one bar of one stream."""
    i = int(st[0])
    for k in range(code.shape[0]):
        _exec_single(code, fc, wts, st, v, k, i)
    st[0] = i + 1


@njit(cache=True, error_model="numpy")
def _exec_single(code: np.ndarray, fc: np.ndarray, wts: np.ndarray, st: np.ndarray, v: np.ndarray, k: int,
                 i: int) -> None:
    """Operation ``k`` on bar ``i``: reads its inputs from ``v``, writes its output slot(s)."""
    op = code[k, OP]
    out = code[k, OUT]
    a = v[code[k, A]]
    if op == ADD:
        v[out] = a + v[code[k, B]]
    elif op == SUB:
        v[out] = a - v[code[k, B]]
    elif op == MUL:
        v[out] = a * v[code[k, B]]
    elif op == DIV:
        v[out] = a / v[code[k, B]]
    elif op == DIVNAN:
        q = a / v[code[k, B]]
        v[out] = np.nan if math.isinf(q) else q
    elif op == MAXNAN:
        b = v[code[k, B]]
        v[out] = np.nan if (a != a or b != b) else (a if a >= b else b)
    elif op == MINNAN:
        b = v[code[k, B]]
        v[out] = np.nan if (a != a or b != b) else (a if a <= b else b)
    elif op == CONST:
        v[out] = fc[k, 0]
    elif op == ABS:
        v[out] = abs(a)
    elif op == SQRTX:
        v[out] = math.sqrt(a) if a >= 0 else np.nan
    elif op == SQRT:
        v[out] = math.sqrt(a) if a >= 0 else np.nan
    elif op == NEG:
        v[out] = -a
    elif op == ADDC:
        v[out] = a + fc[k, 0]
    elif op == SUBC:
        v[out] = a - fc[k, 0]
    elif op == RSUBC:
        v[out] = fc[k, 0] - a
    elif op == MULC:
        v[out] = a * fc[k, 0]
    elif op == DIVC:
        v[out] = a / fc[k, 0]
    elif op == RDIVC:
        v[out] = fc[k, 0] / a
    elif op == GT:
        v[out] = 1.0 if a > v[code[k, B]] else 0.0
    elif op == GE:
        v[out] = 1.0 if a >= v[code[k, B]] else 0.0
    elif op == LT:
        v[out] = 1.0 if a < v[code[k, B]] else 0.0
    elif op == LE:
        v[out] = 1.0 if a <= v[code[k, B]] else 0.0
    elif op == AND:
        v[out] = 1.0 if (a != 0.0 and v[code[k, B]] != 0.0) else 0.0
    elif op == OR:
        v[out] = 1.0 if (a != 0.0 or v[code[k, B]] != 0.0) else 0.0
    elif op == NZR:
        # pandas-ta's non_zero_range adds eps to every difference of a frame in which one is
        # zero (a frame-wide rule): here from the first zero the stream meets on (state flag)
        o = code[k, SOFF]
        d = a - v[code[k, B]]
        if d == 0.0:
            st[o] = 1.0
        v[out] = d + EPS if st[o] != 0.0 else d
    elif op == ZERO:
        v[out] = 0.0 if abs(a) < EPS else a
    elif op == CLIPLO0:
        v[out] = 0.0 if a < 0.0 else a
    elif op == CLIPHI0:
        v[out] = 0.0 if a > 0.0 else a
    elif op == SIGN:
        v[out] = 1.0 if a > 0.0 else (-1.0 if a < 0.0 else a)
    elif op == POSNEG:
        v[out] = 1.0 if a > v[code[k, B]] else -1.0
    elif op == SHIFT:
        v[out] = _ring_push(st, code[k, SOFF], code[k, I0], a)
    elif op == MASKHEAD:
        v[out] = np.nan if i < code[k, I0] else a
    elif op == PRESMA:
        v[out] = _presma(st, code[k, SOFF], code[k, I0], code[k, I1], a)
    elif op == EWM:
        v[out] = _ewm(st, code[k, SOFF], fc[k, 0], fc[k, 1], a)
    elif op == ROLLSUM:
        v[out] = _rolling_sum_mean(st, code[k, SOFF], code[k, I0], code[k, I1], a, i, False)
    elif op == ROLLMEAN:
        v[out] = _rolling_sum_mean(st, code[k, SOFF], code[k, I0], code[k, I1], a, i, True)
    elif op == ROLLVAR:
        v[out] = _rolling_var(st, code[k, SOFF], code[k, I0], code[k, I1], code[k, I2], a, i)
    elif op == ROLLMAX:
        v[out] = _rolling_extreme(st, code[k, SOFF], code[k, I0], code[k, I1], a, i, True)
    elif op == ROLLMIN:
        v[out] = _rolling_extreme(st, code[k, SOFF], code[k, I0], code[k, I1], a, i, False)
    elif op == ARGMAXR:
        v[out] = _recent_extreme_index(st, code[k, SOFF], code[k, I0], a, i, True)
    elif op == ARGMINR:
        v[out] = _recent_extreme_index(st, code[k, SOFF], code[k, I0], a, i, False)
    elif op == DOTSEQ or op == DOTFMA or op == DOTBLAS1:
        v[out] = _window_dot(st, code[k, SOFF], code[k, I0], code[k, I1], wts, a, i, op)
    elif op == LINREG:
        v[out] = _linreg(st, code[k, SOFF], code[k, I0], fc[k, 0], fc[k, 1], fc[k, 2], a, i)
    elif op == MAD:
        v[out] = _mad(st, code[k, SOFF], code[k, I0], a, i)
    elif op == CUMSUM:
        o = code[k, SOFF]
        x = a if a == a else 0.0
        st[o] = x if i == 0 else st[o] + x
        v[out] = st[o] if a == a else np.nan
    elif op == PCTCHANGE:
        o = code[k, SOFF]
        ff = a if a == a else st[o]
        v[out] = ff / st[o] - 1.0
        st[o] = ff
    elif op == TRUERANGE:
        v[out] = _true_range(st, code[k, SOFF], code[k, I0], a, v[code[k, B]], v[code[k, C]], i)
    elif op == CROSSUP or op == CROSSDOWN:
        o = code[k, SOFF]
        b = v[code[k, B]]
        if i == 0:
            v[out] = 0.0
        elif op == CROSSUP:
            v[out] = 1.0 if (a > b and st[o] <= st[o + 1]) else 0.0
        else:
            v[out] = 1.0 if (a < b and st[o] >= st[o + 1]) else 0.0
        st[o] = a
        st[o + 1] = b
    elif op == HELD or op == WITHIN:
        n = code[k, I0]
        o = code[k, SOFF]
        old = _ring_push(st, o + 1, n, a)
        st[o] += a - (old if i >= n else 0.0)
        v[out] = (1.0 if st[o] >= n else 0.0) if op == HELD else (1.0 if st[o] > 0 else 0.0)
    elif op == LOOKBACK:
        v[out] = a if i >= code[k, I0] else 0.0
    elif op == ISVAL:
        v[out] = 1.0 if a == a else 0.0
    else:
        _exec_stateful(code, fc, st, v, k, op, out, a, i)


@njit(cache=True, error_model="numpy")
def _presma(st: np.ndarray, o: int, length: int, first_valid: int, x: float) -> float:
    """pandas-ta's EMA/ATR seeding: the first ``length`` values of the series become NaN except
    the last, which is their mean (pandas' nanmean). With ``first_valid`` the series starts at
    its first value (pandas-ta slices at ``first_valid_index()`` before some EMAs).
    Layout: started, count, buffer(length)."""
    if st[o] == 0.0:
        if first_valid and x != x:
            return np.nan
        st[o] = 1.0
    count = int(st[o + 1])
    if count >= length:
        return x
    st[o + 2 + count] = x
    count += 1
    st[o + 1] = count
    if count < length:
        return np.nan
    buf = np.empty(length)
    valid = 0
    for j in range(length):
        y = st[o + 2 + j]
        if y == y:
            buf[j] = y
            valid += 1
        else:
            buf[j] = 0.0
    return _pairwise(buf, 0, length) / valid if valid else np.nan


@njit(cache=True, error_model="numpy")
def _ewm(st: np.ndarray, o: int, new_wt: float, old_wt_factor: float, x: float) -> float:
    """pandas' ewm(adjust=False, ignore_na=False).mean(), one bar. Layout: started, weighted,
    old_wt, nobs."""
    if math.isinf(x):
        x = np.nan
    if st[o] == 0.0:
        st[o] = 1.0
        st[o + 1] = x
        st[o + 2] = 1.0
        st[o + 3] = 1.0 if x == x else 0.0
    else:
        weighted = st[o + 1]
        is_observation = x == x
        if is_observation:
            st[o + 3] += 1.0
        if weighted == weighted:
            old_wt = st[o + 2] * old_wt_factor
            if is_observation:
                if weighted != x:
                    weighted = old_wt * weighted + new_wt * x
                    weighted /= (old_wt + new_wt)
                old_wt = 1.0
            st[o + 2] = old_wt
        elif is_observation:
            weighted = x
        st[o + 1] = weighted
    return st[o + 1] if st[o + 3] >= 1.0 else np.nan


@njit(cache=True, error_model="numpy")
def _window_dot(st: np.ndarray, r: int, n: int, woff: int, wts: np.ndarray, x: float, i: int, op: int) -> float:
    """The window (oldest first) dotted with ``wts[woff:woff + n]``: DOTSEQ as numba's
    ``np.convolve`` without BLAS (pandas-ta's SMA), DOTFMA as OpenBLAS's short tail loop
    (NumPy ``dot`` of fewer than 16 values), DOTBLAS1 as OpenBLAS with unit weights."""
    _ring_push(st, r, n, x)
    if i + 1 < n:
        return np.nan
    window = np.empty(n)
    _ring_window(st, r, n, window)
    if op == DOTBLAS1:
        return _blas_dot_ones(window)
    acc = 0.0
    if op == DOTFMA:
        for j in range(n):
            acc = _fma(wts[woff + j], window[j], acc)
    else:
        for j in range(n):
            acc = acc + window[j] * wts[woff + j]
    return acc


@njit(cache=True, error_model="numpy")
def _linreg(st: np.ndarray, r: int, n: int, x_sum: float, x2_sum: float, divisor: float, x: float, i: int) -> float:
    """pandas-ta's linreg of the window (NumPy sums of y and x * y, x = 1..n)."""
    _ring_push(st, r, n, x)
    if i + 1 < n:
        return np.nan
    window = np.empty(n)
    _ring_window(st, r, n, window)
    xy = np.empty(n)
    for j in range(n):
        xy[j] = float(j + 1) * window[j]
    y_sum = _pairwise(window, 0, n)
    xy_sum = _pairwise(xy, 0, n)
    m = (float(n) * xy_sum - x_sum * y_sum) / divisor
    b = (y_sum * x2_sum - x_sum * xy_sum) / divisor
    return m * float(n) + b


@njit(cache=True, error_model="numpy")
def _mad(st: np.ndarray, r: int, n: int, x: float, i: int) -> float:
    """``indicators.rolling_mad`` (pandas-ta's mad): mean absolute deviation of the window."""
    _ring_push(st, r, n, x)
    if i + 1 < n:
        return np.nan
    window = np.empty(n)
    _ring_window(st, r, n, window)
    mean = _pairwise(window, 0, n) / n
    for j in range(n):
        window[j] = abs(window[j] - mean)
    return _pairwise(window, 0, n) / n


@njit(cache=True, error_model="numpy")
def _true_range(st: np.ndarray, o: int, prenan: int, high: float, low: float, close: float, i: int) -> float:
    """pandas-ta's true_range (drift 1): max of |high - low| (non-zero), |high - prev close|,
    |prev close - low|, NaN skipped. Layout: previous close, epsilon flag."""
    pc = st[o]
    st[o] = close
    if prenan and i == 0:
        return np.nan
    hl = high - low
    if hl == 0.0:
        st[o + 1] = 1.0  # non_zero_range's frame-wide epsilon, from the first zero on (see NZR)
    if st[o + 1] != 0.0:
        hl = hl + EPS
    best = abs(hl)
    if pc == pc:
        best = max(best, abs(high - pc))
        best = max(best, abs(pc - low))
    return best


@njit(cache=True, error_model="numpy")
def _exec_stateful(code: np.ndarray, fc: np.ndarray, st: np.ndarray, v: np.ndarray, k: int, op: int, out: int,
                   a: float, i: int) -> None:
    """The path-dependent and windowed indicators (kept out of ``_exec`` to keep it small)."""
    o = code[k, SOFF]
    if op == PSARDIR:
        v[out] = _psar(st, o, fc[k, 0], fc[k, 1], a, v[code[k, B]], v[code[k, C]], i)
    elif op == ATRTS:
        x = a
        ma = v[code[k, B]]
        atr = v[code[k, C]]
        if i < code[k, I0]:
            st[o] = np.nan
            v[out] = np.nan
            return
        pr = st[o]
        if x > ma:
            result = x - atr
            if result < pr:
                result = pr
        else:
            result = x + atr
            if result > pr:
                result = pr
        st[o] = result
        v[out] = result
    elif op == HA:
        _heikin_ashi(st, o, a, v[code[k, B]], v[code[k, C]], v[code[k, D]], i, v, out)
    elif op == KAMA:
        v[out] = _kama(st, o, code[k, I0], a, v[code[k, B]], i)
    elif op == FRAMA:
        v[out] = _frama(st, o, code[k, I0], fc[k, 0], a, v[code[k, B]], i)
    else:
        _exec_windowed(code, fc, st, v, k, op, out, a, i)


@njit(cache=True, error_model="numpy")
def _psar(st: np.ndarray, o: int, af0: float, max_af: float, high: float, low: float, close: float,
          i: int) -> float:
    """pandas-ta's psar loop, one bar; output the side (+1 SAR below price, -1 above; NaN on
    the first bar). Layout: falling, af, ep, sar, previous high, previous low."""
    if i == 0:
        st[o + 3] = close  # sar[0] = close[0]
        st[o + 4] = high
        st[o + 5] = low
        return np.nan
    h_prev = st[o + 4]
    l_prev = st[o + 5]
    if i == 1:  # _falling(high[:2], low[:2]): the first bar's -DM
        up = high - h_prev
        dn = l_prev - low
        dmn = dn if (dn > up and dn > 0.0) else 0.0
        falling = abs(dmn) >= EPS and dmn > 0.0
        st[o] = 1.0 if falling else 0.0
        st[o + 1] = af0
        st[o + 2] = l_prev if falling else h_prev
    falling = st[o] != 0.0
    af = st[o + 1]
    ep = st[o + 2]
    sar_prev = st[o + 3]
    sar = sar_prev + af * (ep - sar_prev)
    if falling:
        reverse = high > sar
        if low < ep:
            ep = low
            af = af + af0
            if max_af < af:
                af = max_af
        if sar > h_prev:
            pass
        else:
            sar = h_prev
    else:
        reverse = low < sar
        if high > ep:
            ep = high
            af = af + af0
            if max_af < af:
                af = max_af
        if sar < l_prev:
            pass
        else:
            sar = l_prev
    if reverse:
        sar = ep
        af = af0
        falling = not falling
        ep = low if falling else high
    st[o] = 1.0 if falling else 0.0
    st[o + 1] = af
    st[o + 2] = ep
    st[o + 3] = sar
    st[o + 4] = high
    st[o + 5] = low
    return -1.0 if falling else 1.0


@njit(cache=True, error_model="numpy")
def _heikin_ashi(st: np.ndarray, o: int, op_: float, hi: float, lo: float, cl: float, i: int, v: np.ndarray,
                 out: int) -> None:
    """pandas-ta's ha: outputs HA_open, HA_high, HA_low, HA_close. Layout: previous open, close."""
    ha_close = 0.25 * (op_ + hi + lo + cl)
    if i == 0:
        ha_open = 0.5 * (op_ + cl)
    else:
        ha_open = 0.5 * (st[o] + st[o + 1])
    st[o] = ha_open
    st[o + 1] = ha_close
    v[out] = ha_open
    top = ha_open if ha_open >= ha_close else ha_close
    v[out + 1] = top if top >= hi else hi
    bottom = ha_open if ha_open <= ha_close else ha_close
    v[out + 2] = bottom if bottom <= lo else lo
    v[out + 3] = ha_close


@njit(cache=True, error_model="numpy")
def _kama(st: np.ndarray, o: int, length: int, close: float, sc: float, i: int) -> float:
    """``indicators._kama``: seeded with pandas-ta's SMA of the first ``length`` closes (numba's
    convolve of a window as long as its kernel: the closes newest first), then
    kama = sc * close + (1 - sc) * kama. Layout: previous, buffer(length)."""
    if i < length:
        st[o + 1 + i] = close
        if i < length - 1:
            return np.nan
        w = 1.0 / length
        acc = 0.0
        for j in range(length):
            acc = acc + w * st[o + 1 + length - 1 - j]
        st[o] = acc
        return acc
    st[o] = sc * close + (1.0 - sc) * st[o]
    return st[o]


@njit(cache=True, error_model="numpy")
def _frama(st: np.ndarray, o: int, length: int, alpha_min: float, high: float, low: float, i: int) -> float:
    """``custom.frama`` one bar. Layout: previous value, ring of highs, ring of lows."""
    price = (high + low) / 2.0
    rh = o + 1
    rl = o + 2 + length
    _ring_push(st, rh, length, high)
    _ring_push(st, rl, length, low)
    if i < length - 1:
        return np.nan
    if i == length - 1:
        st[o] = price
        return price
    older = length // 2
    newer = length - older
    hs = np.empty(length)
    ls = np.empty(length)
    _ring_window(st, rh, length, hs)
    _ring_window(st, rl, length, ls)
    h1 = hs[0]
    l1 = ls[0]
    for j in range(1, older):
        h1 = max(h1, hs[j])
        l1 = min(l1, ls[j])
    h2 = hs[older]
    l2 = ls[older]
    for j in range(older + 1, length):
        h2 = max(h2, hs[j])
        l2 = min(l2, ls[j])
    n1 = (h1 - l1) / older
    n2 = (h2 - l2) / newer
    n3 = (max(h1, h2) - min(l1, l2)) / length
    if n1 + n2 > 0.0 and n3 > 0.0:
        dimension = (math.log(n1 + n2) - math.log(n3)) / math.log(2.0)
        alpha = math.exp(-4.6 * (dimension - 1.0))
    else:
        alpha = 1.0
    alpha = min(max(alpha, alpha_min), 1.0)
    st[o] = alpha * price + (1.0 - alpha) * st[o]
    return st[o]


@njit(cache=True, error_model="numpy")
def _exec_windowed(code: np.ndarray, fc: np.ndarray, st: np.ndarray, v: np.ndarray, k: int, op: int, out: int,
                   a: float, i: int) -> None:
    """The custom indicators that are windowed by definition: each bar runs the batch kernel
    of ``custom.py`` over the last ``window`` candles (kept in rings), so live and batch run
    the same code on the same numbers."""
    o = code[k, SOFF]
    n = code[k, I0]
    if op == RENKO:
        _ring_push(st, o, n, a)
        if i + 1 < n:
            v[out] = v[out + 1] = v[out + 2] = np.nan
            return
        close = np.empty(n)
        _ring_window(st, o, n, close)
        d, f, r = _renko_kernel(close, fc[k, 0], n)
        v[out] = d[n - 1]
        v[out + 1] = f[n - 1]
        v[out + 2] = r[n - 1]
    elif op == RANGEBARS:
        cols = (a, v[code[k, B]], v[code[k, C]], v[code[k, D]])
        arrays = _push_columns(st, o, n, cols, i)
        if arrays.shape[0] == 0:
            v[out] = v[out + 1] = np.nan
            return
        closed, run = _range_bar_kernel(arrays[0], arrays[1], arrays[2], arrays[3], fc[k, 0], n)
        v[out] = closed[n - 1]
        v[out + 1] = run[n - 1]
    elif op == DOUBLE:
        cols3 = (a, v[code[k, B]], v[code[k, C]], 0.0)
        arrays = _push_columns(st, o, n, cols3, i, 3)
        if arrays.shape[0] == 0:
            v[out] = v[out + 1] = v[out + 2] = np.nan
            return
        bottom, top, support = _double_kernel(arrays[0], arrays[1], arrays[2], n, code[k, I1], fc[k, 0])
        v[out] = bottom[n - 1]
        v[out + 1] = top[n - 1]
        v[out + 2] = support[n - 1]
    elif op == VPROFILE:
        cols3 = (a, v[code[k, B]], v[code[k, C]], 0.0)
        arrays = _push_columns(st, o, n, cols3, i, 3)
        if arrays.shape[0] == 0:
            v[out] = v[out + 1] = v[out + 2] = np.nan
            return
        poc, val, vah = _profile_kernel(arrays[0], arrays[1], arrays[2], n, code[k, I1], fc[k, 0])
        v[out] = poc[n - 1]
        v[out + 1] = val[n - 1]
        v[out + 2] = vah[n - 1]


@njit(cache=True)
def _push_columns(st: np.ndarray, o: int, n: int, values: tuple, i: int, columns: int = 4) -> np.ndarray:
    """Pushes one value per column into consecutive rings of n; their windows once full (else
    an empty array)."""
    for c in range(columns):
        _ring_push(st, o + c * (n + 1), n, values[c])
    if i + 1 < n:
        return np.empty((0, n))
    arrays = np.empty((columns, n))
    for c in range(columns):
        _ring_window(st, o + c * (n + 1), n, arrays[c])
    return arrays


# ---------------------------------------------------------------- entry points


@njit(cache=True, error_model="numpy")
def step(code: np.ndarray, fc: np.ndarray, wts: np.ndarray, state: np.ndarray, before: np.ndarray,
         vals: np.ndarray, rows: np.ndarray, candles: np.ndarray, revision: np.ndarray, rules: np.ndarray,
         decided: np.ndarray) -> None:
    """One bar for several streams of one program (the pairs of a shard, in one call).

    Stream ``rows[j]`` gets candle ``candles[j]``; ``revision[j]`` says the candle replaces the
    stream's last bar: its state rolls back to ``before`` (the state before that bar) and the
    bar is applied again. Otherwise the current state is kept in ``before`` first. The values
    of the rule slots ``rules`` land in ``decided[j]``."""
    n_in = candles.shape[1]
    for j in range(rows.size):
        s = rows[j]
        if revision[j]:
            state[s, :] = before[s, :]
        else:
            before[s, :] = state[s, :]
        v = vals[s]
        for c in range(n_in):
            v[c] = candles[j, c]
        _exec(code, fc, wts, state[s], v)
        for e in range(rules.size):
            decided[j, e] = v[rules[e]]


@njit(cache=True)
def decide(rows: np.ndarray, times: np.ndarray, bars: np.ndarray, complete: np.ndarray, decided: np.ndarray,
           lookback: np.ndarray, window: np.ndarray, start: np.ndarray, position: np.ndarray,
           position_before: np.ndarray, emitted: np.ndarray, bar_time: np.ndarray, actions: np.ndarray) -> None:
    """``positions.step`` for every rule of the streams just stepped, with the live rules for
    revisions (``LiveEvaluator._decide``): a revised bar is re-decided from the position held
    before it, and once a bar emitted a signal nothing more is emitted for it.

    An entry decides only when ready: more bars than its look-back, and either its whole
    window (indicators converged) or the stream's whole history (``complete``). ``bars[j]`` is
    the bars applied to the stream's state, ``start[s, e]`` the bar its indicators began on."""
    for j in range(rows.size):
        s = rows[j]
        t = times[j]
        for e in range(lookback.size):
            actions[j, e] = 0
            n = bars[j] - start[s, e]
            if not (n > lookback[e] and (n >= window[e] or (complete[s] and start[s, e] == 0))):
                continue
            if bar_time[s, e] == t:
                if emitted[s, e] != 0:
                    continue
            else:
                bar_time[s, e] = t
                position_before[s, e] = position[s, e]
                emitted[s, e] = 0
            if position_before[s, e] == 0:
                if decided[j, 2 * e] != 0.0:
                    position[s, e] = 1
                    emitted[s, e] = 1
                    actions[j, e] = 1
                else:
                    position[s, e] = 0
            elif decided[j, 2 * e + 1] != 0.0:
                position[s, e] = 0
                emitted[s, e] = -1
                actions[j, e] = -1
            else:
                position[s, e] = 1


@njit(cache=True, error_model="numpy")
def run(code: np.ndarray, fc: np.ndarray, wts: np.ndarray, state: np.ndarray, candles: np.ndarray,
        record: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """Applies ``candles`` (bars x columns) to one stream's ``state`` in order; returns the
    values of the slots in ``record`` on every bar (bars x len(record))."""
    n_in = candles.shape[1]
    recorded = np.empty((candles.shape[0], record.size))
    for t in range(candles.shape[0]):
        for c in range(n_in):
            vals[c] = candles[t, c]
        _exec(code, fc, wts, state, vals)
        for j in range(record.size):
            recorded[t, j] = vals[record[j]]
    return recorded


@njit(cache=True, error_model="numpy")
def run_flags(code: np.ndarray, fc: np.ndarray, wts: np.ndarray, state: np.ndarray, candles: np.ndarray,
              record: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """``run`` for slots holding conditions: their values as booleans (bars x len(record)),
    an eighth of the memory (a year of 1-minute bars for 1,000 rules is 525 MB, not 4 GB)."""
    n_in = candles.shape[1]
    recorded = np.empty((candles.shape[0], record.size), dtype=np.bool_)
    for t in range(candles.shape[0]):
        for c in range(n_in):
            vals[c] = candles[t, c]
        _exec(code, fc, wts, state, vals)
        for j in range(record.size):
            recorded[t, j] = vals[record[j]] != 0.0
    return recorded


# ---------------------------------------------------------------- operation-major batch execution

CHUNK = 512  # bars an operation advances at a time in ``run_columns``


@njit(cache=True)
def _outputs(op: int) -> int:
    if op == HA:
        return 4
    if op == RENKO or op == DOUBLE or op == VPROFILE:
        return 3
    if op == RANGEBARS:
        return 2
    return 1


@njit(cache=True, error_model="numpy")
def _run_op(code: np.ndarray, fc: np.ndarray, wts: np.ndarray, st: np.ndarray, V: np.ndarray, scratch: np.ndarray,
            k: int, m: int, i0: int) -> None:
    """Operation ``k`` over bars i0 .. i0 + m - 1 (columns 0 .. m - 1 of ``V``), in order. The common
    operations loop here with the same per-bar helpers ``_exec_single`` uses; the others go
    through ``_exec_single`` bar by bar."""
    op = code[k, OP]
    out = code[k, OUT]
    a, b = code[k, A], code[k, B]
    o = code[k, SOFF]
    if op == ADD:
        for j in range(m):
            V[out, j] = V[a, j] + V[b, j]
    elif op == SUB:
        for j in range(m):
            V[out, j] = V[a, j] - V[b, j]
    elif op == MUL:
        for j in range(m):
            V[out, j] = V[a, j] * V[b, j]
    elif op == DIV:
        for j in range(m):
            V[out, j] = V[a, j] / V[b, j]
    elif op == MULC:
        c = fc[k, 0]
        for j in range(m):
            V[out, j] = V[a, j] * c
    elif op == ADDC:
        c = fc[k, 0]
        for j in range(m):
            V[out, j] = V[a, j] + c
    elif op == CONST:
        c = fc[k, 0]
        for j in range(m):
            V[out, j] = c
    elif op == GT or op == GE or op == LT or op == LE:
        for j in range(m):
            x, y = V[a, j], V[b, j]
            hold = x > y if op == GT else x >= y if op == GE else x < y if op == LT else x <= y
            V[out, j] = 1.0 if hold else 0.0
    elif op == AND:
        for j in range(m):
            V[out, j] = 1.0 if (V[a, j] != 0.0 and V[b, j] != 0.0) else 0.0
    elif op == OR:
        for j in range(m):
            V[out, j] = 1.0 if (V[a, j] != 0.0 or V[b, j] != 0.0) else 0.0
    elif op == CROSSUP or op == CROSSDOWN:
        pa, pb = st[o], st[o + 1]
        for j in range(m):
            x, y = V[a, j], V[b, j]
            if i0 + j == 0:
                V[out, j] = 0.0
            elif op == CROSSUP:
                V[out, j] = 1.0 if (x > y and pa <= pb) else 0.0
            else:
                V[out, j] = 1.0 if (x < y and pa >= pb) else 0.0
            pa, pb = x, y
        st[o], st[o + 1] = pa, pb
    elif op == LOOKBACK:
        lookback = code[k, I0]
        for j in range(m):
            V[out, j] = V[a, j] if i0 + j >= lookback else 0.0
    elif op == SHIFT:
        n = code[k, I0]
        for j in range(m):
            V[out, j] = _ring_push(st, o, n, V[a, j])
    elif op == PRESMA:
        for j in range(m):
            V[out, j] = _presma(st, o, code[k, I0], code[k, I1], V[a, j])
    elif op == EWM:
        new_wt, factor = fc[k, 0], fc[k, 1]
        for j in range(m):
            V[out, j] = _ewm(st, o, new_wt, factor, V[a, j])
    elif op == ROLLSUM or op == ROLLMEAN:
        for j in range(m):
            V[out, j] = _rolling_sum_mean(st, o, code[k, I0], code[k, I1], V[a, j], i0 + j, op == ROLLMEAN)
    elif op == ROLLMAX or op == ROLLMIN:
        for j in range(m):
            V[out, j] = _rolling_extreme(st, o, code[k, I0], code[k, I1], V[a, j], i0 + j, op == ROLLMAX)
    elif op == DOTSEQ:
        for j in range(m):
            V[out, j] = _window_dot(st, o, code[k, I0], code[k, I1], wts, V[a, j], i0 + j, op)
    else:
        c_, d_ = code[k, C], code[k, D]
        n_out = _outputs(op)
        for j in range(m):
            scratch[a] = V[a, j]
            scratch[b] = V[b, j]
            scratch[c_] = V[c_, j]
            scratch[d_] = V[d_, j]
            _exec_single(code, fc, wts, st, scratch, k, i0 + j)
            for q in range(n_out):
                V[out + q, j] = scratch[out + q]


@njit(cache=True, error_model="numpy", nogil=True)
def run_columns(code: np.ndarray, fc: np.ndarray, wts: np.ndarray, state: np.ndarray, candles: np.ndarray,
                record: np.ndarray, n_slots: int, flags: bool) -> tuple[np.ndarray, np.ndarray]:
    """``run`` (``flags=False``: values) or ``run_flags`` (``flags=True``: booleans) operation-major:
    each operation advances ``CHUNK`` bars before the next one runs, so the interpreter's
    dispatch is paid per chunk, not per bar, and an operation's state stays in registers. Same
    per-bar arithmetic, same results (tested); for the batch path (many parameter sets over
    long histories). Returns (booleans, values), each recorded slot x bars (one contiguous row
    per slot: a rule's signal series, as the backtest kernel takes them), the one not asked
    for empty. Releases the GIL: programs can run in threads."""
    n_bars, n_in = candles.shape
    V = np.empty((n_slots, CHUNK))
    scratch = np.zeros(n_slots)
    as_flags = np.empty((record.size, n_bars if flags else 0), dtype=np.bool_)
    as_values = np.empty((record.size, 0 if flags else n_bars))
    for t0 in range(0, n_bars, CHUNK):
        m = min(CHUNK, n_bars - t0)
        i0 = int(state[0])
        for c in range(n_in):
            for j in range(m):
                V[c, j] = candles[t0 + j, c]
        for k in range(code.shape[0]):
            _run_op(code, fc, wts, state, V, scratch, k, m, i0)
        state[0] = i0 + m
        for r in range(record.size):
            slot = record[r]
            if flags:
                for j in range(m):
                    as_flags[r, t0 + j] = V[slot, j] != 0.0
            else:
                for j in range(m):
                    as_values[r, t0 + j] = V[slot, j]
    return as_flags, as_values
