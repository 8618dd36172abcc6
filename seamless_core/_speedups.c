/* Optional native speedups for seamless_core.
 *
 * Every function here has a pure-Python equivalent that is used when this module is not
 * built (see seamless_core/_native.py); the tests hold the two to the same results.
 *
 *   contains_nonfinite(value)      NaN or +-inf anywhere in nested dicts/lists/tuples
 *   join(parts)                    b"".join(parts), backing large results with huge pages
 *   read_files(dir_fd, names, n)   the first n bytes of many files, without the GIL
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <unistd.h>
#define HAVE_POSIX_FILES 1
#endif

#if defined(__linux__)
#include <sys/mman.h>
#endif

/* -- contains_nonfinite --------------------------------------------------------------------- */

static int scan_nonfinite(PyObject *value);

static int
scan_items(PyObject *const *items, Py_ssize_t count)
{
    for (Py_ssize_t i = 0; i < count; i++) {
        int found = scan_nonfinite(items[i]);
        if (found != 0) {
            return found;
        }
    }
    return 0;
}

/* 1 if found, 0 if not, -1 with an exception set (recursion too deep). Runs no Python code,
 * so the containers cannot change under it. */
static int
scan_nonfinite(PyObject *value)
{
    if (PyFloat_Check(value)) {
        return !isfinite(PyFloat_AS_DOUBLE(value));
    }
    int found = 0;
    if (PyDict_Check(value)) {
        if (Py_EnterRecursiveCall(" while looking for NaN and infinity")) {
            return -1;
        }
        Py_ssize_t position = 0;
        PyObject *key, *item;
        while (found == 0 && PyDict_Next(value, &position, &key, &item)) {
            found = scan_nonfinite(item);
        }
        Py_LeaveRecursiveCall();
    }
    else if (PyList_Check(value) || PyTuple_Check(value)) {
        if (Py_EnterRecursiveCall(" while looking for NaN and infinity")) {
            return -1;
        }
        found = scan_items(PySequence_Fast_ITEMS(value), PySequence_Fast_GET_SIZE(value));
        Py_LeaveRecursiveCall();
    }
    return found;
}

static PyObject *
contains_nonfinite(PyObject *module, PyObject *value)
{
    int found = scan_nonfinite(value);
    if (found < 0) {
        return NULL;
    }
    return PyBool_FromLong(found);
}

/* -- join ----------------------------------------------------------------------------------- */

/* Results at least this large get huge pages where the kernel offers them on request
 * (transparent huge pages in "madvise" mode): filling fresh memory costs one page fault per
 * 4 KiB page otherwise, which is most of the time of a large copy. */
#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_PAGE_THRESHOLD (4 * HUGE_PAGE)

static void
advise_huge_pages(char *start, size_t size)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (size < HUGE_PAGE_THRESHOLD) {
        return;
    }
    uintptr_t first = ((uintptr_t)start + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    uintptr_t last = ((uintptr_t)start + size) & ~(uintptr_t)(HUGE_PAGE - 1);
    if (last > first) {
        (void)madvise((void *)first, last - first, MADV_HUGEPAGE); /* advice only */
    }
#else
    (void)start;
    (void)size;
#endif
}

static PyObject *
join(PyObject *module, PyObject *parts)
{
    PyObject *sequence = PySequence_Fast(parts, "join() expects a sequence of bytes-like objects");
    if (sequence == NULL) {
        return NULL;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence);
    PyObject *result = NULL;
    Py_buffer *views = PyMem_Calloc(count ? count : 1, sizeof(Py_buffer));
    Py_ssize_t acquired = 0, total = 0;
    /* As bytes.join does: the GIL is let go only when every part is immutable, so that no
     * Python thread changes a part (an array, a bytearray) halfway through its copy. */
    int immutable = 1;
    if (views == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; acquired < count; acquired++) {
        PyObject *part = PySequence_Fast_GET_ITEM(sequence, acquired);
        if (PyObject_GetBuffer(part, &views[acquired], PyBUF_SIMPLE) < 0) {
            goto done;
        }
        immutable &= PyBytes_CheckExact(part);
        if (views[acquired].len > PY_SSIZE_T_MAX - total) {
            acquired++;
            PyErr_SetString(PyExc_OverflowError, "join() result is too large");
            goto done;
        }
        total += views[acquired].len;
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL) {
        goto done;
    }
    PyThreadState *released = immutable ? PyEval_SaveThread() : NULL;
    char *out = PyBytes_AS_STRING(result);
    advise_huge_pages(out, (size_t)total);
    for (Py_ssize_t i = 0; i < count; i++) {
        if (views[i].len > 0) {
            memcpy(out, views[i].buf, (size_t)views[i].len);
            out += views[i].len;
        }
    }
    if (released != NULL) {
        PyEval_RestoreThread(released);
    }
done:
    for (Py_ssize_t i = 0; i < acquired; i++) {
        PyBuffer_Release(&views[i]);
    }
    PyMem_Free(views);
    Py_DECREF(sequence);
    return result;
}

/* -- read_files ----------------------------------------------------------------------------- */

#ifdef HAVE_POSIX_FILES

/* For the start of small files: also keeps the arena arithmetic far from overflowing. */
#define MAX_READ_LIMIT ((Py_ssize_t)1 << 30)

/* Read up to `limit` bytes of one file (opened relative to dir_fd) to `target`; returns the
 * number of bytes read, or -errno. One read() call: for a regular file a short read means the
 * end of the file, so a result below `limit` is the whole file. */
static Py_ssize_t
read_one(int dir_fd, const char *name, char *target, size_t limit)
{
    int fd;
    do {
        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        return -(Py_ssize_t)errno;
    }
    ssize_t size;
    do {
        size = read(fd, target, limit);
    } while (size < 0 && errno == EINTR);
    Py_ssize_t result = size < 0 ? -(Py_ssize_t)errno : (Py_ssize_t)size;
    close(fd);
    return result;
}

static PyObject *
read_files(PyObject *module, PyObject *args)
{
    int dir_fd;
    PyObject *names;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "iO!n:read_files", &dir_fd, &PyList_Type, &names, &limit)) {
        return NULL;
    }
    if (limit <= 0 || limit > MAX_READ_LIMIT) {
        PyErr_SetString(PyExc_ValueError,
                        "read_files(): the limit must be positive and at most 1 GiB");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(names);
    PyObject *encoded = PyList_New(count); /* keeps the file-system names alive */
    PyObject *sizes = PyList_New(count);
    Py_ssize_t *results = PyMem_Calloc(count ? count : 1, sizeof(Py_ssize_t));
    const char **paths = PyMem_Calloc(count ? count : 1, sizeof(char *));
    char *arena = NULL;
    PyObject *content = NULL, *answer = NULL;
    if (encoded == NULL || sizes == NULL || results == NULL || paths == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *name = PyList_GET_ITEM(names, i);
        PyObject *raw;
        if (!PyUnicode_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "read_files(): names must be str");
            goto done;
        }
        raw = PyUnicode_EncodeFSDefault(name);
        if (raw == NULL) {
            goto done;
        }
        if ((Py_ssize_t)strlen(PyBytes_AS_STRING(raw)) != PyBytes_GET_SIZE(raw)) {
            Py_DECREF(raw);
            PyErr_SetString(PyExc_ValueError, "read_files(): embedded null byte in a name");
            goto done;
        }
        PyList_SET_ITEM(encoded, i, raw);
        paths[i] = PyBytes_AS_STRING(raw);
    }

    size_t capacity = 0, used = 0;
    int out_of_memory = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) {
        if (capacity - used < (size_t)limit) {
            size_t wanted = capacity ? capacity * 2 : (size_t)limit * 4;
            while (wanted - used < (size_t)limit) {
                wanted *= 2;
            }
            char *grown = realloc(arena, wanted);
            if (grown == NULL) {
                out_of_memory = 1;
                break;
            }
            arena = grown;
            capacity = wanted;
        }
        results[i] = read_one(dir_fd, paths[i], arena + used, (size_t)limit);
        if (results[i] > 0) {
            used += (size_t)results[i];
        }
    }
    Py_END_ALLOW_THREADS
    if (out_of_memory) {
        PyErr_NoMemory();
        goto done;
    }
    content = PyBytes_FromStringAndSize(arena, (Py_ssize_t)used);
    if (content == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *size = PyLong_FromSsize_t(results[i]);
        if (size == NULL) {
            goto done;
        }
        PyList_SET_ITEM(sizes, i, size);
    }
    answer = PyTuple_Pack(2, content, sizes);
done:
    free(arena);
    PyMem_Free(paths);
    PyMem_Free(results);
    Py_XDECREF(content);
    Py_XDECREF(encoded);
    Py_XDECREF(sizes);
    return answer;
}

#endif /* HAVE_POSIX_FILES */

/* -- module --------------------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"contains_nonfinite", contains_nonfinite, METH_O,
     "contains_nonfinite(value, /)\n--\n\n"
     "Whether a NaN or an infinity (a float, or a float subclass) occurs anywhere in\n"
     "``value``, looking through dicts (their values), lists and tuples, subclasses included."},
    {"join", join, METH_O,
     "join(parts, /)\n--\n\n"
     "``b\"\".join(parts)`` for C-contiguous bytes-like parts. Large results ask the kernel\n"
     "for huge pages before they are filled, which makes filling them several times faster."},
#ifdef HAVE_POSIX_FILES
    {"read_files", read_files, METH_VARARGS,
     "read_files(dir_fd, names, limit, /)\n--\n\n"
     "Read up to ``limit`` bytes of each file ``names[i]`` (relative to the open directory\n"
     "``dir_fd``; symbolic links followed) with one read() each, without holding the GIL.\n"
     "Returns ``(content, sizes)``: the files' bytes one after the other, and for each file\n"
     "the number of bytes read (``limit`` means there may be more) or ``-errno``."},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    "seamless_core._speedups",
    "Optional native speedups; seamless_core._native falls back to Python without them.",
    0,
    methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module_definition);
}
