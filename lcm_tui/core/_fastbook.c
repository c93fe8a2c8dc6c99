/* The hot path of lcm_tui.book (BookSide._commit after _parse) in C.
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
 *     odd case and its error.
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
    /* Keys are floats; the Python path may have stored an int for an integral price. */
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

static PyMethodDef fastbook_methods[] = {
    {"apply_levels", (PyCFunction)(void (*)(void))apply_levels, METH_FASTCALL,
     "apply_levels(bid_levels, bid_keys, bids, ask_levels, ask_keys, asks) -> bool\n\n"
     "Apply one depth update to both sides of an lcm_tui.book.OrderBook, all or nothing.\n"
     "False (nothing changed) if a level is not [str, str, ...]: use the Python path then."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastbook_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "lcm_tui.core._fastbook",
    .m_doc = "C fast path for lcm_tui.book: parse and apply depth updates.",
    .m_size = 0,
    .m_methods = fastbook_methods,
};

PyMODINIT_FUNC
PyInit__fastbook(void)
{
    return PyModuleDef_Init(&fastbook_module);
}
