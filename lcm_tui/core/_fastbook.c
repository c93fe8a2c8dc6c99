/* The hot path of lcm_tui.core.book (BookSide._commit after _parse) in C.
 *
 * Why: in CPython a ~40-level depth update costs ~10 us of per-level interpreter steps (tuples,
 * zips, bisect calls) even after every trick in book.py; here the same work is a few hundred ns of
 * plain C per level. The data structures are exactly the pure-Python ones (a dict key -> (size,
 * price_str, size_str) and a sorted list of keys, bids negated), so everything else in lcm-tui reads
 * them unchanged and the two paths can be mixed on one book.
 *
 * Contract (book.py relies on it, tests/unit/test_book.py checks it against the Python path):
 * apply_levels(bid_levels, bid_keys, bids, ask_levels, ask_keys, asks) -> bool
 *   - bids/asks: lists of [price_str, size_str, ...] (list or tuple levels, extra items ignored).
 *   - Returns False, having changed nothing, if any level on either side is not in that form (not a
 *     list/tuple of at least two exact str): the caller then runs the Python path, which owns every
 *     odd case and its error ("malformed level ..." for a level that is not strings, e.g. {}).
 *   - Keys and sizes are always Python floats, integral texts included: the Python path parses the
 *     same way, so a price above 2**53 is one key (the nearest double), never an int on one path.
 *   - The side cap (max_levels) is applied by book.py after this returns, on either path.
 *   - Raises ValueError("invalid level 'p' 'q'"), having changed nothing, for the first level (bids
 *     first) that float() refuses or that is nan/inf, price <= 0, size < 0: the same first error the
 *     Python path raises, since every level before it is a valid pair of str.
 *   - Otherwise applies both sides with the Python path's semantics (last update of a price wins,
 *     size 0 deletes, deleting an absent level is a no-op) and returns True.
 * Numbers are exactly float(text): plain decimals with at most 19 digits whose integer mantissa is
 * below 2**53 and that have at most 22 decimals are m / 10**k, one correctly rounded IEEE division of
 * two exact doubles (Clinger's fast path); anything else goes through PyFloat_FromString, which is
 * what float() calls for a str.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>

/* x87 extended precision would double-round the division: use float() there. */
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0
#define FASTBOOK_NO_FAST_DECIMAL 1
#endif

/* More new levels than this in one update are merged by sorting rather than inserted one by one. */
#define BULK_INSERT 32
#define STACK_LEVELS 128

typedef struct {
    double key;     /* price, negated for bids */
    double size;
    PyObject *p;    /* borrowed from the update list, which the caller holds */
    PyObject *q;
    PyObject *kobj; /* owned after commit phase 1 */
    int is_new;     /* first insertion of a key that was not in the book */
} Level;

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* 1 and *out set if s is a plain decimal that the fast path converts exactly; 0 otherwise. */
static int
fast_decimal(PyObject *s, double *out)
{
#ifdef FASTBOOK_NO_FAST_DECIMAL
    (void)s;
    (void)out;
    return 0;
#else
    if (!PyUnicode_IS_ASCII(s)) {
        return 0;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    const char *c = (const char *)PyUnicode_DATA(s);
    uint64_t m = 0;
    int digits = 0, any = 0, frac = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        char ch = c[i];
        if (ch >= '0' && ch <= '9') {
            any = 1;
            if (m || ch != '0') { /* leading zeros are not significant */
                if (++digits > 19) {
                    return 0;
                }
                m = m * 10 + (uint64_t)(ch - '0');
            }
            if (frac >= 0) {
                frac++;
            }
        }
        else if (ch == '.' && frac < 0) {
            frac = 0;
        }
        else {
            return 0;
        }
    }
    if (!any || frac > 22 || m > ((uint64_t)1 << 53)) {
        return 0;
    }
    *out = frac > 0 ? (double)m / POW10[frac] : (double)m;
    return 1;
#endif
}

/* 0 with *out set; 1 if float() refuses the text; -1 on another error (memory). */
static int
to_double(PyObject *s, double *out)
{
    if (fast_decimal(s, out)) {
        return 0;
    }
    PyObject *f = PyFloat_FromString(s);
    if (f == NULL) {
        if (PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear();
            return 1;
        }
        return -1;
    }
    *out = PyFloat_AS_DOUBLE(f);
    Py_DECREF(f);
    return 0;
}

/* 1 if every level is [str, str, ...] (list or tuple) and lv holds the strings; 0 otherwise. */
static int
collect_side(PyObject *updates, Level *out)
{
    Py_ssize_t n = PyList_GET_SIZE(updates);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *lv = PyList_GET_ITEM(updates, i);
        PyObject *p, *q;
        if (PyList_CheckExact(lv) && PyList_GET_SIZE(lv) >= 2) {
            p = PyList_GET_ITEM(lv, 0);
            q = PyList_GET_ITEM(lv, 1);
        }
        else if (PyTuple_CheckExact(lv) && PyTuple_GET_SIZE(lv) >= 2) {
            p = PyTuple_GET_ITEM(lv, 0);
            q = PyTuple_GET_ITEM(lv, 1);
        }
        else {
            return 0;
        }
        if (!PyUnicode_CheckExact(p) || !PyUnicode_CheckExact(q)) {
            return 0;
        }
        out[i].p = p;
        out[i].q = q;
        out[i].kobj = NULL;
        out[i].is_new = 0;
    }
    return 1;
}

/* 0 with keys and sizes set; -1 with ValueError naming the first invalid level (or a memory error). */
static int
parse_side(Level *lv, Py_ssize_t n, double sign)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p = lv[i].p, *q = lv[i].q;
        double price, size;
        int rp = to_double(p, &price);
        if (rp < 0) {
            return -1;
        }
        int rq = rp ? 1 : to_double(q, &size);
        if (rq < 0) {
            return -1;
        }
        /* Rejects unparsable text, nan, inf, negatives and zero prices, as the Python path does. */
        if (rp || rq || !(0.0 < price && price < Py_HUGE_VAL && 0.0 <= size && size < Py_HUGE_VAL)) {
            PyErr_Format(PyExc_ValueError, "invalid level %R %R", p, q);
            return -1;
        }
        lv[i].key = sign * price;
        lv[i].size = size;
    }
    return 0;
}

static inline double
key_value(PyObject *k)
{
    /* Keys are floats on both paths (book.py writes every number as a float, "67000" included);
     * anything else that compares like a number is still read correctly, just more slowly. */
    return PyFloat_CheckExact(k) ? PyFloat_AS_DOUBLE(k) : PyFloat_AsDouble(k);
}

static Py_ssize_t
bisect_left(PyObject *keys, double x)
{
    PyObject **items = PySequence_Fast_ITEMS(keys);
    Py_ssize_t lo = 0, hi = PyList_GET_SIZE(keys);
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (key_value(items[mid]) < x) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo;
}

/* The Python path's _commit step by step: upsert all, then delete the zero sizes that are still
 * zero (so the last update of a price wins), then insert the surviving new keys into the list. */
static int
commit_side(PyObject *levels, PyObject *keys, Level *lv, Py_ssize_t n)
{
    Py_ssize_t added = 0, i;
    int has_zero = 0;
    for (i = 0; i < n; i++) {
        PyObject *k = PyFloat_FromDouble(lv[i].key);
        if (k == NULL) {
            return -1;
        }
        lv[i].kobj = k;
        PyObject *size = PyFloat_FromDouble(lv[i].size);
        if (size == NULL) {
            return -1;
        }
        PyObject *v = PyTuple_New(3);
        if (v == NULL) {
            Py_DECREF(size);
            return -1;
        }
        PyTuple_SET_ITEM(v, 0, size);
        Py_INCREF(lv[i].p);
        PyTuple_SET_ITEM(v, 1, lv[i].p);
        Py_INCREF(lv[i].q);
        PyTuple_SET_ITEM(v, 2, lv[i].q);
        Py_ssize_t before = PyDict_GET_SIZE(levels);
        int r = PyDict_SetItem(levels, k, v);
        Py_DECREF(v);
        if (r < 0) {
            return -1;
        }
        if (PyDict_GET_SIZE(levels) != before) {
            lv[i].is_new = 1;
            added++;
        }
        if (lv[i].size == 0.0) {
            has_zero = 1;
        }
    }
    if (has_zero) {
        for (i = 0; i < n; i++) {
            if (lv[i].size != 0.0) {
                continue;
            }
            PyObject *v = PyDict_GetItemWithError(levels, lv[i].kobj);
            if (v == NULL) {
                if (PyErr_Occurred()) {
                    return -1;
                }
                continue; /* deleted by an earlier update of the same price */
            }
            int nonzero = PyObject_IsTrue(PyTuple_GET_ITEM(v, 0));
            if (nonzero < 0) {
                return -1;
            }
            if (nonzero) {
                continue; /* a later update of the same price set a size */
            }
            if (PyDict_DelItem(levels, lv[i].kobj) < 0) {
                return -1;
            }
            if (lv[i].is_new) {
                continue; /* inserted by this update: not in the key list yet */
            }
            Py_ssize_t j = bisect_left(keys, lv[i].key);
            if (j < PyList_GET_SIZE(keys) && key_value(PyList_GET_ITEM(keys, j)) == lv[i].key) {
                if (PyList_SetSlice(keys, j, j + 1, NULL) < 0) {
                    return -1;
                }
            }
        }
    }
    if (added) {
        /* Snapshots: one sort (Timsort merges the runs) instead of a memmove per level. */
        int bulk = added > BULK_INSERT || PyList_GET_SIZE(keys) == 0;
        for (i = 0; i < n; i++) {
            if (!lv[i].is_new) {
                continue;
            }
            if (has_zero) {
                /* A size-0 update of the price (this one or a later one) may have deleted it again. */
                int alive = PyDict_Contains(levels, lv[i].kobj);
                if (alive < 0) {
                    return -1;
                }
                if (!alive) {
                    continue;
                }
            }
            int r = bulk ? PyList_Append(keys, lv[i].kobj)
                         : PyList_Insert(keys, bisect_left(keys, lv[i].key), lv[i].kobj);
            if (r < 0) {
                return -1;
            }
        }
        if (bulk && PyList_Sort(keys) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *
apply_levels(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "apply_levels(bid_levels, bid_keys, bids, ask_levels, ask_keys, asks) takes 6 arguments");
        return NULL;
    }
    PyObject *bids = args[2], *asks = args[5];
    if (!PyList_CheckExact(bids) || !PyList_CheckExact(asks)) {
        Py_RETURN_FALSE;
    }
    Py_ssize_t nb = PyList_GET_SIZE(bids), na = PyList_GET_SIZE(asks);
    if ((nb && (!PyDict_CheckExact(args[0]) || !PyList_CheckExact(args[1]))) ||
        (na && (!PyDict_CheckExact(args[3]) || !PyList_CheckExact(args[4])))) {
        PyErr_SetString(PyExc_TypeError, "levels must be a dict and keys a list");
        return NULL;
    }
    Level stack[STACK_LEVELS];
    Level *lv = stack;
    if (nb + na > STACK_LEVELS) {
        lv = PyMem_New(Level, (size_t)(nb + na));
        if (lv == NULL) {
            return PyErr_NoMemory();
        }
    }
    PyObject *result = NULL;
    /* The shape of every level first: the Python path's error for a malformed level (IndexError,
     * TypeError) takes precedence over an invalid number anywhere, so the C code must not raise
     * first. */
    if (!collect_side(bids, lv) || !collect_side(asks, lv + nb)) {
        result = Py_NewRef(Py_False);
        goto done;
    }
    if (parse_side(lv, nb, -1.0) < 0 || parse_side(lv + nb, na, 1.0) < 0) {
        goto done;
    }
    /* Everything is valid: from here on only memory errors can stop the update. */
    if (nb && commit_side(args[0], args[1], lv, nb) < 0) {
        goto release;
    }
    if (na && commit_side(args[3], args[4], lv + nb, na) < 0) {
        goto release;
    }
    result = Py_NewRef(Py_True);
release:
    for (Py_ssize_t i = 0; i < nb + na; i++) {
        Py_XDECREF(lv[i].kobj);
    }
done:
    if (lv != stack) {
        PyMem_Free(lv);
    }
    return result;
}

/* prefix_extend(levels, orig, keys, sizes, cum, upto) -> None
 *
 * The prefix sums of lcm_tui.core.bands.Ladder.extend: for i in [len(cum), upto) append the size of
 * level orig[i] (levels[orig[i]][0], the same float object) to sizes and the running sum
 * cum[-1] + keys[i] * size to cum, left to right, one rounding per product and per addition exactly
 * as itertools.accumulate(map(operator.mul, ...)) does. Why: the ordered pass over a band is a dict
 * lookup, a tuple index, a multiply and an add per level; in C that is a few ns instead of ~100 ns
 * of iterator steps, and it is the cost of every band that ends inside a side. */
static PyObject *
prefix_extend(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "prefix_extend(levels, orig, keys, sizes, cum, upto) takes 6 arguments");
        return NULL;
    }
    PyObject *levels = args[0], *orig = args[1], *keys = args[2], *sizes = args[3], *cum = args[4];
    if (!PyDict_CheckExact(levels) || !PyList_CheckExact(orig) || !PyList_CheckExact(keys) ||
        !PyList_CheckExact(sizes) || !PyList_CheckExact(cum)) {
        PyErr_SetString(PyExc_TypeError, "prefix_extend needs a dict and four lists");
        return NULL;
    }
    Py_ssize_t upto = PyLong_AsSsize_t(args[5]);
    if (upto == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t have = PyList_GET_SIZE(cum);
    if (upto > PyList_GET_SIZE(orig) || upto > PyList_GET_SIZE(keys)) {
        PyErr_SetString(PyExc_IndexError, "prefix_extend: upto is past the end of the side");
        return NULL;
    }
    double acc = 0.0;
    if (have) {
        acc = PyFloat_AsDouble(PyList_GET_ITEM(cum, have - 1));
        if (acc == -1.0 && PyErr_Occurred()) {
            return NULL;
        }
    }
    for (Py_ssize_t i = have; i < upto; i++) {
        PyObject *v = PyDict_GetItemWithError(levels, PyList_GET_ITEM(orig, i));
        if (v == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetObject(PyExc_KeyError, PyList_GET_ITEM(orig, i));
            }
            return NULL;
        }
        if (!PyTuple_CheckExact(v) || PyTuple_GET_SIZE(v) < 1) {
            PyErr_SetString(PyExc_TypeError, "prefix_extend: a level is not a (size, price, size) tuple");
            return NULL;
        }
        PyObject *size = PyTuple_GET_ITEM(v, 0);
        double q = PyFloat_CheckExact(size) ? PyFloat_AS_DOUBLE(size) : PyFloat_AsDouble(size);
        if (q == -1.0 && PyErr_Occurred()) {
            return NULL;
        }
        PyObject *key = PyList_GET_ITEM(keys, i);
        double k = PyFloat_CheckExact(key) ? PyFloat_AS_DOUBLE(key) : PyFloat_AsDouble(key);
        if (k == -1.0 && PyErr_Occurred()) {
            return NULL;
        }
        volatile double product = k * q; /* two roundings, never one fused multiply-add */
        acc = acc + product;
        PyObject *c = PyFloat_FromDouble(acc);
        if (c == NULL) {
            return NULL;
        }
        int r = PyList_Append(cum, c);
        Py_DECREF(c);
        if (r < 0 || PyList_Append(sizes, size) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

/* What side_sample has read of one side: key values of the best `nk` levels, prefix sums (and sizes) of
 * the best `nc`, and `have`, the length Ladder.cum would have on the Python path (its growth rule
 * decides when a band that covers the whole side is one unordered sum over the level dict instead).
 * Only what a number needs is read: on a collector with thousands of books every level touched is a
 * few cache misses, which cost more than the arithmetic. */
typedef struct {
    PyObject *levels, *keys;
    Py_ssize_t n, nk, nc, have;
    double *key, *cum, *size;
} Side;

/* Key values of the best `upto` levels: 0; 1 if a key is not a float (the Python path decides). */
static int
load_keys(Side *sd, Py_ssize_t upto)
{
    PyObject **items = PySequence_Fast_ITEMS(sd->keys);
    for (Py_ssize_t i = sd->nk; i < upto; i++) {
        if (!PyFloat_CheckExact(items[i])) {
            return 1;
        }
        sd->key[i] = PyFloat_AS_DOUBLE(items[i]);
    }
    if (upto > sd->nk) {
        sd->nk = upto;
    }
    return 0;
}

/* Prefix sums of the best `upto` levels, the Python path's additions in its order: 0; 1 if a level
 * is not (float size, ...) (the Python path decides); -1 on error. */
static int
load_prefix(Side *sd, Py_ssize_t upto)
{
    if (upto <= sd->nc) {
        return 0;
    }
    if (load_keys(sd, upto)) {
        return 1;
    }
    PyObject **items = PySequence_Fast_ITEMS(sd->keys);
    double acc = sd->nc ? sd->cum[sd->nc - 1] : 0.0;
    for (Py_ssize_t i = sd->nc; i < upto; i++) {
        PyObject *v = PyDict_GetItemWithError(sd->levels, items[i]);
        if (v == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetObject(PyExc_KeyError, items[i]);
            }
            return -1;
        }
        if (!PyTuple_CheckExact(v) || PyTuple_GET_SIZE(v) < 1 || !PyFloat_CheckExact(PyTuple_GET_ITEM(v, 0))) {
            return 1;
        }
        double q = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(v, 0));
        volatile double product = sd->key[i] * q; /* two roundings, never one fused multiply-add */
        acc = acc + product;
        sd->cum[i] = acc;
        sd->size[i] = q;
    }
    sd->nc = upto;
    return 0;
}

/* Ladder.extend's growth of len(cum) to at least `upto` (at least doubling, at least 16, up to the side). */
static void
grow(Side *sd, Py_ssize_t upto)
{
    Py_ssize_t have = sd->have, n = sd->n;
    if (upto <= have || have >= n) {
        return;
    }
    if (2 * have > upto) {
        upto = 2 * have;
    }
    if (upto < 16) {
        upto = 16;
    }
    sd->have = upto < n ? upto : n;
}

/* bisect_left (right = 0) or bisect_right (right = 1) of x in the keys from index `from`, reading key
 * values best first only as far as the answer: a band's levels are read for its sum anyway. */
static int
scan_keys(Side *sd, double x, Py_ssize_t from, int right, Py_ssize_t *at)
{
    Py_ssize_t i = from;
    for (;;) {
        if (i == sd->nk) {
            if (i == sd->n) {
                break;
            }
            Py_ssize_t more = sd->nk < 8 ? 8 : 2 * sd->nk;
            if (load_keys(sd, more < sd->n ? more : sd->n)) {
                return 1;
            }
        }
        double k = sd->key[i];
        if (right ? x < k : !(k < x)) {
            break;
        }
        i++;
    }
    *at = i;
    return 0;
}

/* side_sample(levels, keys, sign, mid, bands, targets) -> (depths, walks) | None
 *
 * What lcm_tui.core.metrics.compute_sample reads of one side through a lcm_tui.core.bands.Ladder (rate 1):
 * Ladder.depths(bands, mid, ...) in band order, then Ladder.walk(targets), with the same float
 * operations in the same order, so every number is identical to the Python path: the band edge
 * (sign * mid * (10^4 + sign * x) / 10^4) and its tolerance, the levels inside (the keys are sorted:
 * reading them best first finds what bisect finds), prefix sums, the whole-side sum where
 * Ladder.quote_within takes it (decided by Ladder.extend's growth rule, replayed), the walk's first
 * prefix sum that fills the notional and its partial last level. depths is a list of floats, walks a
 * list of (base or None, quote filled, levels touched) tuples. None when the Python path must
 * decide: a level within the tolerance of a band edge (exact rational arithmetic), or a key or size
 * that is not a float. The sums of sizes (the walk's base) and of the whole side are plain
 * left-to-right additions, as CPython 3.11's sum() of floats does (core.bands uses this function only
 * there). Why: on the Python path a sample is ~50 small calls per side; here it is one, and it reads
 * only the levels the numbers need. */
static PyObject *
side_sample(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "side_sample(levels, keys, sign, mid, bands, targets) takes 6 arguments");
        return NULL;
    }
    PyObject *levels = args[0], *keys = args[1], *bands = args[4], *targets = args[5];
    if (!PyDict_CheckExact(levels) || !PyList_CheckExact(keys) || !PyList_CheckExact(bands) ||
        !PyList_CheckExact(targets)) {
        PyErr_SetString(PyExc_TypeError, "side_sample needs a dict and three lists");
        return NULL;
    }
    double sign = PyFloat_AsDouble(args[2]);
    if (sign == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    double mid = PyFloat_AsDouble(args[3]);
    if (mid == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(keys), nb = PyList_GET_SIZE(bands), nt = PyList_GET_SIZE(targets);
    Side sd = {levels, keys, n, 0, 0, 0, NULL, NULL, NULL};
    sd.key = PyMem_New(double, (size_t)(3 * n + 1));
    if (sd.key == NULL) {
        return PyErr_NoMemory();
    }
    sd.cum = sd.key + n;
    sd.size = sd.cum + n;
    PyObject *depths = PyList_New(nb), *walks = NULL, *result = NULL;
    if (depths == NULL) {
        goto done;
    }
    int have_total = 0, r;
    double total = 0.0, prev_from = -Py_HUGE_VAL;
    Py_ssize_t from = 0;
    for (Py_ssize_t b = 0; b < nb; b++) {
        double x = PyFloat_AsDouble(PyList_GET_ITEM(bands, b));
        if (x == -1.0 && PyErr_Occurred()) {
            goto done;
        }
        volatile double xs = sign * x;
        volatile double lim1 = sign * mid;
        volatile double lim2 = lim1 * (10000.0 + xs);
        double limit = lim2 / 10000.0;
        volatile double tol1 = fabs(limit) * 1e-12;
        double tol = tol1 + 1e-300;
        double below = limit - tol, above = limit + tol;
        if (!(below >= prev_from)) {
            from = 0; /* bands out of order: search from the top again */
        }
        prev_from = below;
        Py_ssize_t lo, hi;
        if (scan_keys(&sd, below, from, 0, &lo) || scan_keys(&sd, above, lo, 1, &hi)) {
            result = Py_NewRef(Py_None);
            goto done;
        }
        from = lo;
        if (lo != hi) {
            result = Py_NewRef(Py_None); /* a level near the edge: decided exactly, in Python */
            goto done;
        }
        double d;
        if (lo <= 0) {
            d = 0.0;
        }
        else if (lo >= n && sd.have < lo && PyDict_GET_SIZE(levels)) {
            if (!have_total) {
                /* sum(map(mul, levels, sizes)) in the dict's own order: plain additions from 0. */
                Py_ssize_t pos = 0;
                PyObject *k, *v;
                double acc = 0.0;
                while (PyDict_Next(levels, &pos, &k, &v)) {
                    if (!PyFloat_CheckExact(k) || !PyTuple_CheckExact(v) || PyTuple_GET_SIZE(v) < 1 ||
                        !PyFloat_CheckExact(PyTuple_GET_ITEM(v, 0))) {
                        result = Py_NewRef(Py_None);
                        goto done;
                    }
                    volatile double product = PyFloat_AS_DOUBLE(k) * PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(v, 0));
                    acc = acc + product;
                }
                total = 1.0 * acc;
                have_total = 1;
            }
            d = sign * total;
        }
        else {
            grow(&sd, lo);
            if ((r = load_prefix(&sd, lo)) != 0) {
                if (r > 0) {
                    result = Py_NewRef(Py_None);
                }
                goto done;
            }
            d = sign * sd.cum[lo - 1];
        }
        PyObject *f = PyFloat_FromDouble(d);
        if (f == NULL) {
            goto done;
        }
        PyList_SET_ITEM(depths, b, f);
    }
    walks = PyList_New(nt);
    if (walks == NULL) {
        goto done;
    }
    if (nt) {
        /* Ladder.walk extends until the largest notional is filled or the side ends: the answers depend
         * only on the first prefix sum that fills each notional, so that is as far as this reads. */
        double last = PyFloat_AsDouble(PyList_GET_ITEM(targets, nt - 1));
        if (last == -1.0 && PyErr_Occurred()) {
            goto done;
        }
        double goal = last * (1.0 - 1e-12);
        while ((sd.nc == 0 || sign * sd.cum[sd.nc - 1] < goal) && sd.nc < n) {
            Py_ssize_t more = sd.nc < 8 ? 8 : sd.nc + sd.nc / 2;
            if ((r = load_prefix(&sd, more < n ? more : n)) != 0) {
                if (r > 0) {
                    result = Py_NewRef(Py_None);
                }
                goto done;
            }
        }
    }
    for (Py_ssize_t w = 0; w < nt; w++) {
        PyObject *tobj = PyList_GET_ITEM(targets, w);
        double t = PyFloat_AsDouble(tobj);
        if (t == -1.0 && PyErr_Occurred()) {
            goto done;
        }
        PyObject *item;
        if (!(t > 0.0)) {
            item = Py_BuildValue("(Odi)", Py_None, 0.0, 0);
        }
        else {
            double v = t * (1.0 - 1e-12);
            Py_ssize_t lo = 0, hi = sd.nc;
            while (lo < hi) {
                Py_ssize_t m = lo + (hi - lo) / 2;
                if (sign * sd.cum[m] < v) {
                    lo = m + 1;
                }
                else {
                    hi = m;
                }
            }
            Py_ssize_t j = lo;
            if (j == sd.nc) { /* not filled: then the whole side was read (sd.nc == n) */
                item = Py_BuildValue("(Odn)", Py_None, sd.nc ? sign * sd.cum[sd.nc - 1] : 0.0, sd.nc);
            }
            else {
                double prev_q = j ? sign * sd.cum[j - 1] : 0.0;
                double p = sign * sd.key[j];
                double base = 0.0;
                for (Py_ssize_t i = 0; i < j; i++) {
                    base = base + sd.size[i];
                }
                volatile double d = t - prev_q;
                volatile double pq = p * sd.size[j];
                double m = pq < d ? pq : d;
                volatile double part = m / p;
                item = Py_BuildValue("(dOn)", base + part, tobj, j + 1);
            }
        }
        if (item == NULL) {
            goto done;
        }
        PyList_SET_ITEM(walks, w, item);
    }
    result = PyTuple_Pack(2, depths, walks);
done:
    PyMem_Free(sd.key);
    Py_XDECREF(depths);
    Py_XDECREF(walks);
    return result;
}

/* levels_ok(levels) -> bool: True if levels is a list of lists [str, str, ...] (exact types), the shape
 * venues.base.check_levels requires; False for anything else (the caller then says what is wrong). */
static PyObject *
levels_ok(PyObject *self, PyObject *levels)
{
    (void)self;
    if (!PyList_CheckExact(levels)) {
        Py_RETURN_FALSE;
    }
    Py_ssize_t n = PyList_GET_SIZE(levels);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *lv = PyList_GET_ITEM(levels, i);
        if (!PyList_CheckExact(lv) || PyList_GET_SIZE(lv) < 2 || !PyUnicode_CheckExact(PyList_GET_ITEM(lv, 0)) ||
            !PyUnicode_CheckExact(PyList_GET_ITEM(lv, 1))) {
            Py_RETURN_FALSE;
        }
    }
    Py_RETURN_TRUE;
}

static PyMethodDef fastbook_methods[] = {
    {"apply_levels", (PyCFunction)(void (*)(void))apply_levels, METH_FASTCALL,
     "apply_levels(bid_levels, bid_keys, bids, ask_levels, ask_keys, asks) -> bool\n\n"
     "Apply one depth update to both sides of an lcm_tui.book.OrderBook, all or nothing.\n"
     "False (nothing changed) if a level is not [str, str, ...]: use the Python path then."},
    {"prefix_extend", (PyCFunction)(void (*)(void))prefix_extend, METH_FASTCALL,
     "prefix_extend(levels, orig, keys, sizes, cum, upto) -> None\n\n"
     "Grow a lcm_tui.core.bands.Ladder's sizes and prefix sums of key*size to upto levels."},
    {"side_sample", (PyCFunction)(void (*)(void))side_sample, METH_FASTCALL,
     "side_sample(levels, keys, sign, mid, bands, targets) -> (depths, walks) | None\n\n"
     "One side's band depths and walks as core.bands.Ladder computes them; None: use the Python path."},
    {"levels_ok", (PyCFunction)levels_ok, METH_O,
     "levels_ok(levels) -> bool\n\n"
     "True if levels is a list of [str, str, ...] lists, the wire shape venues.base.check_levels requires."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastbook_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "lcm_tui.core._fastbook",
    .m_doc = "C fast path for lcm_tui.core.book (parse and apply depth updates) and core.bands (prefix sums, "
             "one side's band depths and walks).",
    .m_size = 0,
    .m_methods = fastbook_methods,
};

PyMODINIT_FUNC
PyInit__fastbook(void)
{
    return PyModuleDef_Init(&fastbook_module);
}
