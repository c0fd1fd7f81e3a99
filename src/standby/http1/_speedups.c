/* Fast path for the two head parsers in request.py and response.py.
 *
 * Bytes in, a head object out, no I/O. Each scanner accepts only the heads that the
 * Python parser would accept with a plain, common shape (the interesting headers limited to
 * the ones browsers, crawlers and web servers send every time) and returns None for
 * anything else: an incomplete head, any invalid byte, a limit reached, a rare header.
 * None means "ask the Python parser"; the entry points parse_request_head and
 * parse_response_head do so themselves, and that parser stays the one authority on errors,
 * limits and unusual framing. So this file can only make a head faster, never change its meaning; the
 * property tests in tests/http1/test_speedups.py compare both on generated heads.
 *
 * Character classes are those of _grammar.py (RFC 9110/9112):
 *   tchar       !#$%&'*+-.^_`|~ DIGIT ALPHA
 *   field char  HTAB, SP..~, 0x80..0xff
 *   target char !..~ but '#' (no fragment, no obs-text: request.py's rules)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

/* Class bits per byte. */
#define C_TCHAR 1
#define C_FIELD 2
#define C_TARGET 4
#define C_DIGIT 8
#define C_HOSTNAME 16

static unsigned char cls[256];
/* bytes.lower() of each byte (field_block). */
static unsigned char lower_of[256];

/* BODY_* of request.py. */
#define BODY_NONE 0
#define BODY_LENGTH 1
#define BODY_CHUNKED 2
#define BODY_UNTIL_CLOSE 3

/* 18 digits stay below 2**63 (MAX_CONTENT_LENGTH_DIGITS in request.py). */
#define MAX_LENGTH_DIGITS 18

/* Names the scanners look at; everything else is passed through untouched. */
enum name {
    N_OTHER = 0,
    N_HOST,
    N_CONTENT_LENGTH,
    N_CONNECTION,
    N_TRANSFER_ENCODING,
    N_X_FORWARDED_FOR,
    N_RARE /* a header either parser treats specially: leave the head to Python */
};

static void init_classes(void)
{
    const char *tchar_extra = "!#$%&'*+-.^_`|~";
    for (int c = 0; c < 256; c++) {
        unsigned char bits = 0;
        if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
            bits |= C_TCHAR;
        if (c == '\t' || (c >= 0x20 && c <= 0x7e) || c >= 0x80)
            bits |= C_FIELD;
        if (c >= 0x21 && c <= 0x7e && c != '#')
            bits |= C_TARGET;
        if (c >= '0' && c <= '9')
            bits |= C_DIGIT;
        if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            c == '.' || c == '-')
            bits |= C_HOSTNAME;
        cls[c] = bits;
    }
    for (const char *p = tchar_extra; *p; p++)
        cls[(unsigned char)*p] |= C_TCHAR;
    for (int c = 0; c < 256; c++) /* bytes.lower(): ASCII letters only */
        lower_of[c] = (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

/* Case-insensitive compare of an ASCII name against a lower-case literal of equal length. */
static int name_is(const unsigned char *s, Py_ssize_t n, const char *lower, Py_ssize_t ln)
{
    if (n != ln)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c += 32;
        if (c != (unsigned char)lower[i])
            return 0;
    }
    return 1;
}

#define NAME_IS(s, n, lit) name_is((s), (n), (lit), (Py_ssize_t)(sizeof(lit) - 1))

/* The longest name request_name knows ("transfer-encoding", "x-forwarded-proto"). */
#define MAX_REQUEST_NAME 17

/* Request header names (request.py _INTERESTING_RE). */
static enum name request_name(const unsigned char *s, Py_ssize_t n)
{
    if (memchr(s, '_', (size_t)n) != NULL) {
        /* "Transfer_Encoding": CGI and WSGI read it as the real one; Python drops it. */
        unsigned char dashed[MAX_REQUEST_NAME];
        if (n > MAX_REQUEST_NAME)
            return N_OTHER;
        for (Py_ssize_t i = 0; i < n; i++)
            dashed[i] = s[i] == '_' ? '-' : s[i];
        return request_name(dashed, n) == N_OTHER ? N_OTHER : N_RARE;
    }
    switch (s[0] | 0x20) {
    case 'h':
        if (NAME_IS(s, n, "http2-settings"))
            return N_RARE;
        return NAME_IS(s, n, "host") ? N_HOST : N_OTHER;
    case 'c':
        if (NAME_IS(s, n, "content-length"))
            return N_CONTENT_LENGTH;
        return NAME_IS(s, n, "connection") ? N_CONNECTION : N_OTHER;
    case 'x':
        if (NAME_IS(s, n, "x-forwarded-for"))
            return N_X_FORWARDED_FOR;
        if (NAME_IS(s, n, "x-forwarded-proto") || NAME_IS(s, n, "x-forwarded-port"))
            return N_RARE;
        return N_OTHER;
    case 'e':
        return NAME_IS(s, n, "expect") ? N_RARE : N_OTHER;
    case 'k':
        return NAME_IS(s, n, "keep-alive") ? N_RARE : N_OTHER;
    case 'p':
        return NAME_IS(s, n, "proxy-connection") ? N_RARE : N_OTHER;
    case 't':
        if (NAME_IS(s, n, "te") || NAME_IS(s, n, "trailer") ||
            NAME_IS(s, n, "transfer-encoding"))
            return N_RARE;
        return N_OTHER;
    case 'u':
        return NAME_IS(s, n, "upgrade") ? N_RARE : N_OTHER;
    default:
        return N_OTHER;
    }
}

/* Response header names (response.py _INTERESTING_RE). */
static enum name response_name(const unsigned char *s, Py_ssize_t n)
{
    switch (s[0] | 0x20) {
    case 'c':
        if (NAME_IS(s, n, "content-length"))
            return N_CONTENT_LENGTH;
        if (NAME_IS(s, n, "connection"))
            return N_CONNECTION;
        return NAME_IS(s, n, "content-location") ? N_RARE : N_OTHER;
    case 't':
        if (NAME_IS(s, n, "transfer-encoding"))
            return N_TRANSFER_ENCODING;
        return (NAME_IS(s, n, "te") || NAME_IS(s, n, "trailer")) ? N_RARE : N_OTHER;
    case 'k':
        return NAME_IS(s, n, "keep-alive") ? N_RARE : N_OTHER;
    case 'p':
        return NAME_IS(s, n, "proxy-connection") ? N_RARE : N_OTHER;
    case 'u':
        return NAME_IS(s, n, "upgrade") ? N_RARE : N_OTHER;
    case 'l':
        return NAME_IS(s, n, "location") ? N_RARE : N_OTHER;
    default:
        return N_OTHER;
    }
}

static int is_ows(unsigned char c) { return c == ' ' || c == '\t'; }

/* [*start, *end) without leading and trailing OWS. */
static void strip_ows(const unsigned char *p, Py_ssize_t *start, Py_ssize_t *end)
{
    while (*start < *end && is_ows(p[*start]))
        (*start)++;
    while (*end > *start && is_ows(p[*end - 1]))
        (*end)--;
}

/* Digits only, 1 to 18 of them, no leading zero; -1 otherwise. */
static long long parse_length(const unsigned char *p, Py_ssize_t start, Py_ssize_t end)
{
    Py_ssize_t n = end - start;
    if (n < 1 || n > MAX_LENGTH_DIGITS || (n > 1 && p[start] == '0'))
        return -1;
    long long v = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        if (!(cls[p[i]] & C_DIGIT))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* Connection values of the fast path: 1 keep-alive, 2 close, 0 anything else. */
#define CONN_NONE 0
#define CONN_KEEP_ALIVE 1
#define CONN_CLOSE 2

static int connection_value(const unsigned char *p, Py_ssize_t start, Py_ssize_t end)
{
    strip_ows(p, &start, &end);
    if (NAME_IS(p + start, end - start, "keep-alive"))
        return CONN_KEEP_ALIVE;
    if (NAME_IS(p + start, end - start, "close"))
        return CONN_CLOSE;
    return CONN_NONE;
}

/* A Connection line at pos (the fast path takes one, keep-alive or close): records its
 * value and the span it takes from the CRLF before it; 0 when the fast path declines. */
static int take_connection(const unsigned char *p, Py_ssize_t pos, Py_ssize_t value_start,
                           Py_ssize_t value_end, int *connection, Py_ssize_t *span_start,
                           Py_ssize_t *span_end)
{
    if (*connection != CONN_NONE)
        return 0;
    *connection = connection_value(p, value_start, value_end);
    *span_start = pos - 2;
    *span_end = value_end;
    return *connection != CONN_NONE;
}

/* A Content-Length value (the fast path takes one): its length, or -1 to decline. */
static long long take_length(const unsigned char *p, Py_ssize_t value_start,
                             Py_ssize_t value_end, long long seen)
{
    if (seen >= 0)
        return -1;
    strip_ows(p, &value_start, &value_end);
    return parse_length(p, value_start, value_end);
}

/* The longest port (request.py _HOST_RE). */
#define MAX_PORT_DIGITS 5

/* A Host value of the common shape: letters, digits, '.' and '-', then perhaps ':' and a
 * port. Anything else (an IP literal, other reg-name characters, an invalid value) is
 * left to Python, which knows every rule. */
static int plain_host(const unsigned char *p, Py_ssize_t start, Py_ssize_t end)
{
    Py_ssize_t i = start;
    while (i < end && (cls[p[i]] & C_HOSTNAME))
        i++;
    if (i == end)
        return 1;
    if (p[i] != ':' || end - i - 1 > MAX_PORT_DIGITS)
        return 0;
    for (i++; i < end; i++)
        if (!(cls[p[i]] & C_DIGIT))
            return 0;
    return 1;
}

/* One header line at pos: name, ':', field chars, CRLF. Returns the position after its
 * CRLF and the spans of its name and value, or -1 when the line is not a plain valid
 * field line here (invalid byte, or the buffer ends first). */
static Py_ssize_t field_line(const unsigned char *p, Py_ssize_t pos, Py_ssize_t len,
                             Py_ssize_t *name_end, Py_ssize_t *value_start,
                             Py_ssize_t *value_end)
{
    Py_ssize_t i = pos;
    while (i < len && (cls[p[i]] & C_TCHAR))
        i++;
    if (i == pos || i >= len || p[i] != ':')
        return -1;
    *name_end = i;
    i++;
    *value_start = i;
    while (i < len && (cls[p[i]] & C_FIELD))
        i++;
    if (i + 1 >= len || p[i] != '\r' || p[i + 1] != '\n')
        return -1;
    *value_end = i;
    return i + 2;
}

/* (a, b), stealing both references; NULL (and both released) if either is NULL. */
static PyObject *pair_of(PyObject *a, PyObject *b)
{
    PyObject *t = (a == NULL || b == NULL) ? NULL : PyTuple_New(2);
    if (t == NULL) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, a);
    PyTuple_SET_ITEM(t, 1, b);
    return t;
}

/* (start, end) */
static PyObject *span(Py_ssize_t start, Py_ssize_t end)
{
    return pair_of(PyLong_FromSsize_t(start), PyLong_FromSsize_t(end));
}

/* [(start, end)] */
static PyObject *span_list(Py_ssize_t start, Py_ssize_t end)
{
    PyObject *one = span(start, end);
    if (one == NULL)
        return NULL;
    PyObject *list = PyList_New(1);
    if (list == NULL) {
        Py_DECREF(one);
        return NULL;
    }
    PyList_SET_ITEM(list, 0, one);
    return list;
}

/* The head classes (RequestHead, ResponseHead) are Python classes with __slots__. bind_*
 * hands one over with its slot names; the scanners then allocate instances and fill every
 * slot directly at the offsets its member descriptors give, which is what setting the
 * attributes from Python would do, without the tuple in between. */
typedef struct {
    PyTypeObject *type;
    Py_ssize_t nslots;
    Py_ssize_t offset[16];
} head_class;

/* Slots of RequestHead, in this order (request.py). */
enum { RQ_METHOD, RQ_TARGET, RQ_VERSION, RQ_HTTP11, RQ_RAW, RQ_HOST, RQ_BODY, RQ_LENGTH,
       RQ_KEEP_ALIVE, RQ_UPGRADE, RQ_EXPECT, RQ_DROPS, RQ_XFF_END, RQ_LINES, RQ_FIELDS,
       RQ_CLIENT_CERT, RQ_N };
/* Slots of ResponseHead (response.py). */
enum { RS_STATUS, RS_VERSION, RS_HTTP11, RS_RAW, RS_BODY, RS_LENGTH, RS_KEEP_ALIVE, RS_DROPS,
       RS_LOCATIONS, RS_KEEP_ALIVE_SPAN, RS_N };

static head_class request_class, response_class;
static PyObject *version_10, *version_11;
/* The Python parsers, for every head the scanners decline; and what they need. */
static PyObject *request_fallback, *response_fallback, *str_packed;
static Py_ssize_t max_response_head;

/* Bind a head class and the Python parser for the heads the scanner declines. */
static int bind_class(head_class *cls_out, PyObject *type, PyObject *names, Py_ssize_t expected,
                      PyObject *fallback, PyObject **fallback_out)
{
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "bind: the fallback must be callable");
        return -1;
    }
    if (!PyType_Check(type) || !PyTuple_CheckExact(names) ||
        PyTuple_GET_SIZE(names) != expected) {
        PyErr_Format(PyExc_TypeError, "bind: a class and a tuple of %zd slot names", expected);
        return -1;
    }
    head_class bound = {(PyTypeObject *)type, expected, {0}};
    for (Py_ssize_t k = 0; k < expected; k++) {
        PyObject *descr = PyObject_GetAttr(type, PyTuple_GET_ITEM(names, k));
        if (descr == NULL)
            return -1;
        /* A slot of this class or a base: a descriptor of another class (set on this one as
         * an attribute) holds an offset into that class's layout, not this one's. */
        int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type) &&
                 PyType_IsSubtype((PyTypeObject *)type, PyDescr_TYPE(descr)) &&
                 ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX &&
                 !(((PyMemberDescrObject *)descr)->d_member->flags & READONLY);
        if (ok) {
            bound.offset[k] = ((PyMemberDescrObject *)descr)->d_member->offset;
            for (Py_ssize_t j = 0; j < k; j++)
                ok &= bound.offset[j] != bound.offset[k]; /* each slot once */
        }
        Py_DECREF(descr);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "bind: %R is not a writable slot, or named twice",
                         PyTuple_GET_ITEM(names, k));
            return -1;
        }
    }
    Py_INCREF(type);
    Py_XDECREF((PyObject *)cls_out->type);
    *cls_out = bound;
    Py_INCREF(fallback);
    Py_XSETREF(*fallback_out, fallback);
    return 0;
}

/* A new instance with every slot filled from values (new references, all stolen). */
static PyObject *build(head_class *c, PyObject **values)
{
    int missing = c->type == NULL;
    for (Py_ssize_t k = 0; k < c->nslots; k++)
        missing |= values[k] == NULL;
    PyObject *obj = missing ? NULL : c->type->tp_alloc(c->type, 0);
    if (obj == NULL) {
        for (Py_ssize_t k = 0; k < c->nslots; k++)
            Py_XDECREF(values[k]);
        if (c->type == NULL && !PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "the head classes are not bound");
        return NULL;
    }
    for (Py_ssize_t k = 0; k < c->nslots; k++)
        *(PyObject **)((char *)obj + c->offset[k]) = values[k];
    return obj;
}

static PyObject *bind_request(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *type, *names, *v10, *v11, *fallback;
    if (!PyArg_ParseTuple(args, "OOSSO", &type, &names, &v10, &v11, &fallback) ||
        bind_class(&request_class, type, names, RQ_N, fallback, &request_fallback) < 0)
        return NULL;
    Py_INCREF(v10);
    Py_INCREF(v11);
    Py_XSETREF(version_10, v10);
    Py_XSETREF(version_11, v11);
    Py_RETURN_NONE;
}

static PyObject *bind_response(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *type, *names, *fallback;
    Py_ssize_t max_head;
    if (!PyArg_ParseTuple(args, "OOOn", &type, &names, &fallback, &max_head) ||
        bind_class(&response_class, type, names, RS_N, fallback, &response_fallback) < 0)
        return NULL;
    max_response_head = max_head;
    Py_RETURN_NONE;
}

static PyObject *raw_of(PyObject *buf, Py_ssize_t stop)
{
    if (stop == PyBytes_GET_SIZE(buf))
        return Py_NewRef(buf);
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(buf), stop);
}

static PyObject *bool_of(int v) { return Py_NewRef(v ? Py_True : Py_False); }

/* scan_request(buf, methods, limits) -> RequestHead | None
 *
 * limits: (max_request_line, max_uri, max_header_line, max_header_count, max_head,
 * max_body) as in Limits. The head's raw is buf[:stop]; every field is what the Python
 * parser would set (upgrade None, expect_continue False, _drops None or the Connection
 * line's span, _lines and _fields None). */
static PyObject *request_impl(PyObject *buf, PyObject *methods, PyObject *packed,
                              Py_ssize_t *stop_out)
{
    if (!PyTuple_CheckExact(packed) || PyTuple_GET_SIZE(packed) != 6) {
        PyErr_SetString(PyExc_TypeError, "limits: a 6-tuple (Limits.packed)");
        return NULL;
    }
    Py_ssize_t lim[6];
    for (int k = 0; k < 6; k++) {
        lim[k] = PyLong_AsSsize_t(PyTuple_GET_ITEM(packed, k));
        if (lim[k] == -1 && PyErr_Occurred()) {
            PyErr_Clear(); /* beyond Py_ssize_t (Limits takes any int), or no int: Python's */
            Py_RETURN_NONE;
        }
    }
    const Py_ssize_t max_request_line = lim[0], max_uri = lim[1], max_header_line = lim[2],
                     max_header_count = lim[3], max_head = lim[4], max_body = lim[5];

    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(buf);
    const Py_ssize_t len = PyBytes_GET_SIZE(buf);

    /* Request line: method SP target SP HTTP/1.x CRLF (leading empty lines: Python), the
     * target in origin-form (the other forms, and CONNECT's authority-form: Python). */
    Py_ssize_t i = 0;
    while (i < len && (cls[p[i]] & C_TCHAR))
        i++;
    const Py_ssize_t method_end = i;
    if (method_end == 0 || i + 1 >= len || p[i] != ' ' || p[i + 1] != '/' ||
        NAME_IS(p, method_end, "connect"))
        Py_RETURN_NONE;
    const Py_ssize_t target_start = ++i;
    while (i < len && (cls[p[i]] & C_TARGET))
        i++;
    const Py_ssize_t target_end = i;
    if (target_end == target_start || i >= len || p[i] != ' ')
        Py_RETURN_NONE;
    i++;
    if (len - i < 10 || memcmp(p + i, "HTTP/1.", 7) != 0 || (p[i + 7] != '0' && p[i + 7] != '1') ||
        p[i + 8] != '\r' || p[i + 9] != '\n')
        Py_RETURN_NONE;
    const int http11 = p[i + 7] == '1';
    if (i + 8 > max_request_line || target_end - target_start > max_uri)
        Py_RETURN_NONE;
    Py_ssize_t pos = i + 10;

    Py_ssize_t host_start = -1, host_end = -1, xff_end = -1;
    Py_ssize_t conn_start = -1, conn_end = -1;
    long long length = -1;
    int connection = CONN_NONE, lines = 0;
    for (;;) {
        if (pos + 1 < len && p[pos] == '\r' && p[pos + 1] == '\n')
            break;
        Py_ssize_t name_end, value_start, value_end;
        Py_ssize_t next = field_line(p, pos, len, &name_end, &value_start, &value_end);
        if (next < 0 || value_end - pos > max_header_line || ++lines > max_header_count)
            Py_RETURN_NONE;
        switch (request_name(p + pos, name_end - pos)) {
        case N_OTHER:
            break;
        case N_HOST:
            if (host_start >= 0)
                Py_RETURN_NONE;
            host_start = value_start;
            host_end = value_end;
            strip_ows(p, &host_start, &host_end);
            if (!plain_host(p, host_start, host_end))
                Py_RETURN_NONE;
            break;
        case N_CONTENT_LENGTH:
            length = take_length(p, value_start, value_end, length);
            if (length < 0 || (max_body && length > max_body))
                Py_RETURN_NONE;
            break;
        case N_CONNECTION:
            if (!take_connection(p, pos, value_start, value_end, &connection, &conn_start,
                                 &conn_end))
                Py_RETURN_NONE;
            break;
        case N_X_FORWARDED_FOR: {
            Py_ssize_t e = value_end;
            while (e > value_start && is_ows(p[e - 1]))
                e--;
            xff_end = e;
            break;
        }
        default:
            Py_RETURN_NONE;
        }
        pos = next;
    }
    const Py_ssize_t stop = pos + 2;
    if (stop > max_head || (http11 && host_start < 0))
        Py_RETURN_NONE;

    PyObject *method = PyBytes_FromStringAndSize((const char *)p, method_end);
    if (method == NULL)
        return NULL;
    int allowed = PySet_Contains(methods, method);
    if (allowed != 1) {
        Py_DECREF(method);
        if (allowed < 0)
            return NULL;
        Py_RETURN_NONE; /* 405 comes from Python, with its message */
    }
    if (version_10 == NULL) {
        Py_DECREF(method);
        PyErr_SetString(PyExc_RuntimeError, "the head classes are not bound");
        return NULL;
    }
    int keep_alive = http11;
    if (connection == CONN_KEEP_ALIVE)
        keep_alive = 1;
    else if (connection == CONN_CLOSE)
        keep_alive = 0;
    PyObject *v[RQ_N];
    v[RQ_METHOD] = method;
    v[RQ_TARGET] = PyBytes_FromStringAndSize((const char *)p + target_start,
                                             target_end - target_start);
    v[RQ_VERSION] = Py_NewRef(http11 ? version_11 : version_10);
    v[RQ_HTTP11] = bool_of(http11);
    v[RQ_RAW] = raw_of(buf, stop);
    v[RQ_HOST] = host_start >= 0 ? PyBytes_FromStringAndSize((const char *)p + host_start,
                                                             host_end - host_start)
                                 : Py_NewRef(Py_None);
    v[RQ_BODY] = PyLong_FromLong(length > 0 ? BODY_LENGTH : BODY_NONE);
    v[RQ_LENGTH] = PyLong_FromLongLong(length > 0 ? length : 0);
    v[RQ_KEEP_ALIVE] = bool_of(keep_alive);
    v[RQ_UPGRADE] = Py_NewRef(Py_None);
    v[RQ_EXPECT] = bool_of(0);
    v[RQ_DROPS] = conn_start >= 0 ? span_list(conn_start, conn_end) : Py_NewRef(Py_None);
    v[RQ_XFF_END] = PyLong_FromSsize_t(xff_end);
    v[RQ_LINES] = Py_NewRef(Py_None);
    v[RQ_FIELDS] = Py_NewRef(Py_None);
    v[RQ_CLIENT_CERT] = Py_NewRef(Py_None);
    *stop_out = stop;
    return build(&request_class, v);
}

static PyObject *scan_request(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3 || !PyBytes_CheckExact(args[0]) || !PyAnySet_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "scan_request(bytes, frozenset, 6-tuple)");
        return NULL;
    }
    Py_ssize_t stop;
    return request_impl(args[0], args[1], args[2], &stop);
}

/* scan_response(buf, head_request, max_head) -> ResponseHead | None
 *
 * Every field as the Python parser would set it (_locations None on this path). 1xx
 * statuses are left to Python. */
static PyObject *response_impl(PyObject *buf, int head_request, Py_ssize_t max_head,
                               Py_ssize_t *stop_out)
{
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(buf);
    const Py_ssize_t len = PyBytes_GET_SIZE(buf);

    /* Status line: HTTP/1.x SP DDD [SP reason] CRLF */
    if (len < 14 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
        p[8] != ' ' || !(cls[p[9]] & C_DIGIT) || !(cls[p[10]] & C_DIGIT) ||
        !(cls[p[11]] & C_DIGIT))
        Py_RETURN_NONE;
    const int http11 = p[7] == '1';
    const int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (status < 200 || status > 599) /* 1xx to Python; past 599 Python says 502 */
        Py_RETURN_NONE;
    Py_ssize_t i = 12;
    if (p[i] == ' ') {
        i++;
        while (i < len && (cls[p[i]] & C_FIELD))
            i++;
    }
    if (i + 1 >= len || p[i] != '\r' || p[i + 1] != '\n')
        Py_RETURN_NONE;
    Py_ssize_t pos = i + 2;

    long long length = -1;
    int chunked = 0, connection = CONN_NONE;
    Py_ssize_t conn_start = -1, conn_end = -1;
    for (;;) {
        if (pos > max_head)
            Py_RETURN_NONE;
        if (pos + 1 < len && p[pos] == '\r' && p[pos + 1] == '\n')
            break;
        Py_ssize_t name_end, value_start, value_end;
        Py_ssize_t next = field_line(p, pos, len, &name_end, &value_start, &value_end);
        if (next < 0)
            Py_RETURN_NONE;
        switch (response_name(p + pos, name_end - pos)) {
        case N_OTHER:
            break;
        case N_CONTENT_LENGTH:
            length = take_length(p, value_start, value_end, length);
            if (length < 0)
                Py_RETURN_NONE;
            break;
        case N_TRANSFER_ENCODING: {
            if (chunked)
                Py_RETURN_NONE;
            Py_ssize_t s = value_start, e = value_end;
            strip_ows(p, &s, &e);
            if (!NAME_IS(p + s, e - s, "chunked"))
                Py_RETURN_NONE;
            chunked = 1;
            break;
        }
        case N_CONNECTION:
            if (!take_connection(p, pos, value_start, value_end, &connection, &conn_start,
                                 &conn_end))
                Py_RETURN_NONE;
            break;
        default:
            Py_RETURN_NONE;
        }
        pos = next;
    }
    const Py_ssize_t stop = pos + 2;
    if (stop > max_head || (chunked && length >= 0))
        Py_RETURN_NONE;

    int body;
    if (status == 204 || status == 304 || head_request) {
        body = BODY_NONE;
        length = 0;
    } else if (chunked) {
        body = BODY_CHUNKED;
        length = 0;
    } else if (length >= 0) {
        body = length ? BODY_LENGTH : BODY_NONE;
    } else {
        body = BODY_UNTIL_CLOSE;
        length = 0;
    }
    int keep_alive = connection != CONN_CLOSE && (http11 || connection == CONN_KEEP_ALIVE);
    if (body == BODY_UNTIL_CLOSE)
        keep_alive = 0;

    if (version_10 == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the head classes are not bound");
        return NULL;
    }
    PyObject *v[RS_N];
    v[RS_STATUS] = PyLong_FromLong(status);
    v[RS_VERSION] = Py_NewRef(http11 ? version_11 : version_10);
    v[RS_HTTP11] = bool_of(http11);
    v[RS_RAW] = raw_of(buf, stop);
    v[RS_BODY] = PyLong_FromLong(body);
    v[RS_LENGTH] = PyLong_FromLongLong(length);
    v[RS_KEEP_ALIVE] = bool_of(keep_alive);
    v[RS_DROPS] = connection == CONN_CLOSE ? span_list(conn_start, conn_end) : Py_NewRef(Py_None);
    v[RS_LOCATIONS] = Py_NewRef(Py_None);
    v[RS_KEEP_ALIVE_SPAN] =
        connection == CONN_KEEP_ALIVE ? span(conn_start, conn_end) : Py_NewRef(Py_None);
    *stop_out = stop;
    return build(&response_class, v);
}

static PyObject *scan_response(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3 || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "scan_response(bytes, bool, int)");
        return NULL;
    }
    const int head_request = PyObject_IsTrue(args[1]);
    if (head_request < 0)
        return NULL;
    const Py_ssize_t max_head = PyLong_AsSsize_t(args[2]);
    if (max_head == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t stop;
    return response_impl(args[0], head_request, max_head, &stop);
}

/* (head, stop), or the Python parser's answer when the scanner declined. */
static PyObject *head_or_fallback(PyObject *head, Py_ssize_t stop, PyObject *fallback,
                                  PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (head == NULL)
        return NULL;
    if (head != Py_None)
        return pair_of(head, PyLong_FromSsize_t(stop));
    Py_DECREF(head);
    return PyObject_Vectorcall(fallback, args, nargsf, kwnames);
}

/* parse_request_head(buf, limits, methods): request.parse_request_head, with the scan in
 * front of request_fallback (parse_request_head_python). */
static PyObject *parse_request_head(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames)
{
    (void)self;
    const size_t nargsf = (size_t)nargs;
    if (request_fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the head classes are not bound");
        return NULL;
    }
    if (kwnames != NULL || nargs != 3 || !PyBytes_CheckExact(args[0]) || !PyAnySet_Check(args[2]))
        return PyObject_Vectorcall(request_fallback, args, nargsf, kwnames);
    PyObject *packed = PyObject_GetAttr(args[1], str_packed);
    if (packed == NULL || !PyTuple_CheckExact(packed) || PyTuple_GET_SIZE(packed) != 6) {
        if (packed == NULL && !PyErr_ExceptionMatches(PyExc_Exception))
            return NULL; /* KeyboardInterrupt and the like */
        PyErr_Clear(); /* not a Limits: Python's answer, whatever it is */
        Py_XDECREF(packed);
        return PyObject_Vectorcall(request_fallback, args, nargsf, kwnames);
    }
    Py_ssize_t stop = 0;
    PyObject *head = request_impl(args[0], args[2], packed, &stop);
    Py_DECREF(packed);
    return head_or_fallback(head, stop, request_fallback, args, nargsf, kwnames);
}

/* parse_response_head(buf, request_method, max_head=MAX_RESPONSE_HEAD): as above, in front
 * of response_fallback (parse_response_head_python). */
static PyObject *parse_response_head(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames)
{
    (void)self;
    const size_t nargsf = (size_t)nargs;
    if (response_fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the head classes are not bound");
        return NULL;
    }
    if (kwnames != NULL || nargs < 2 || nargs > 3 || !PyBytes_CheckExact(args[0]) ||
        !PyBytes_Check(args[1]))
        return PyObject_Vectorcall(response_fallback, args, nargsf, kwnames);
    Py_ssize_t max_head = max_response_head;
    if (nargs == 3) {
        max_head = PyLong_AsSsize_t(args[2]);
        if (max_head == -1 && PyErr_Occurred()) {
            PyErr_Clear(); /* beyond Py_ssize_t, or no int: Python's */
            return PyObject_Vectorcall(response_fallback, args, nargsf, kwnames);
        }
    }
    const int head_request =
        PyBytes_GET_SIZE(args[1]) == 4 && memcmp(PyBytes_AS_STRING(args[1]), "HEAD", 4) == 0;
    Py_ssize_t stop = 0;
    PyObject *head = response_impl(args[0], head_request, max_head, &stop);
    return head_or_fallback(head, stop, response_fallback, args, nargsf, kwnames);
}

/* Keep ``fallback``, the Python function a C one calls for the cases it leaves to it. */
static PyObject *bind_fallback(PyObject **slot, PyObject *fallback, const char *binder)
{
    if (!PyCallable_Check(fallback)) {
        PyErr_Format(PyExc_TypeError, "%s: the fallback must be callable", binder);
        return NULL;
    }
    Py_INCREF(fallback);
    Py_XSETREF(*slot, fallback);
    Py_RETURN_NONE;
}

/* The Python client_response_head, for every case client_head leaves to it. */
static PyObject *client_head_fallback;

static PyObject *bind_client_response_head(PyObject *self, PyObject *fallback)
{
    (void)self;
    return bind_fallback(&client_head_fallback, fallback, "bind_client_response_head");
}

#define SLOT(obj, k) (*(PyObject **)((char *)(obj) + response_class.offset[k]))

/* raw without its final CRLF, then line and the final CRLF again. */
static PyObject *with_line(PyObject *raw, const char *line, Py_ssize_t n)
{
    const Py_ssize_t size = PyBytes_GET_SIZE(raw) - 2;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size + n + 2);
    if (out == NULL)
        return NULL;
    char *p = PyBytes_AS_STRING(out);
    memcpy(p, PyBytes_AS_STRING(raw), (size_t)size);
    memcpy(p + size, line, (size_t)n);
    memcpy(p + size + n, "\r\n", 2);
    return out;
}

/* client_response_head(resp, keep_alive, client_http11, location_rewrite=None): the final
 * response of a head with no header to drop or rewrite, in C: raw itself, or raw with one
 * Connection line added. Every other case (keywords, 1xx, drops, a rewrite that applies, a
 * keep-alive line to remove) goes to the Python function, the reference. */
static PyObject *client_head(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    (void)self;
    if (client_head_fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "client_response_head is not bound");
        return NULL;
    }
    PyObject *resp = nargs >= 3 ? args[0] : NULL;
    if (kwnames != NULL || nargs > 4 || resp == NULL || response_class.type == NULL ||
        !Py_IS_TYPE(resp, response_class.type))
        goto fallback;
    PyObject *raw = SLOT(resp, RS_RAW);
    PyObject *status_obj = SLOT(resp, RS_STATUS);
    if (raw == NULL || status_obj == NULL || !PyBytes_CheckExact(raw) ||
        PyBytes_GET_SIZE(raw) < 2 || !PyLong_CheckExact(status_obj) ||
        SLOT(resp, RS_DROPS) != Py_None || SLOT(resp, RS_KEEP_ALIVE_SPAN) == NULL)
        goto fallback; /* ... or a slot never set: Python's AttributeError */
    if (nargs == 4 && args[3] != Py_None && SLOT(resp, RS_LOCATIONS) != Py_None)
        goto fallback;
    int overflow;
    const long status = PyLong_AsLongAndOverflow(status_obj, &overflow);
    if (overflow || status < 200)
        goto fallback; /* 1xx (and 101): their own rules; beyond a long: Python's */
    const int keep_alive = PyObject_IsTrue(args[1]);
    if (keep_alive < 0)
        return NULL;
    const int has_keep_alive_line = SLOT(resp, RS_KEEP_ALIVE_SPAN) != Py_None;
    if (!keep_alive) {
        if (has_keep_alive_line)
            goto fallback; /* the backend's keep-alive line must go */
        static const char close_line[] = "Connection: close\r\n";
        return with_line(raw, close_line, sizeof close_line - 1);
    }
    if (has_keep_alive_line)
        return Py_NewRef(raw);
    const int http11 = PyObject_IsTrue(args[2]); /* tested only here, as in Python */
    if (http11 < 0)
        return NULL;
    if (http11)
        return Py_NewRef(raw);
    static const char keep_line[] = "Connection: keep-alive\r\n";
    return with_line(raw, keep_line, sizeof keep_line - 1);
fallback:
    return PyObject_Vectorcall(client_head_fallback, args, (size_t)nargs, kwnames);
}

/* field_block(raw) -> (block, lowered): the header lines of a head as HeadRequire matches
 * them, "Name: value" with the value's OWS stripped, joined by LF, and the same with ASCII
 * letters lower-cased: exactly what request.field_block_python returns (raw split at each
 * CRLF, the request line and the two empty parts of the end left out, each part cut at its
 * first colon; a part without one is all name). For any bytes. */
static int is_ows_byte(unsigned char c) { return c == ' ' || c == '\t'; }

/* Where the next CRLF starts at or after ``from`` (memchr does the scanning); n if none. */
static Py_ssize_t next_crlf(const char *p, Py_ssize_t from, Py_ssize_t n)
{
    while (from < n) {
        const char *cr = memchr(p + from, '\r', (size_t)(n - from));
        if (cr == NULL)
            return n;
        const Py_ssize_t at = cr - p;
        if (at + 1 < n && p[at + 1] == '\n')
            return at;
        from = at + 1;
    }
    return n;
}

/* The part p[0:n] as a line "Name: value": the name's length, and the value's span. */
static Py_ssize_t field_parts(const char *p, Py_ssize_t n, const char **value, Py_ssize_t *value_n)
{
    const char *colon = memchr(p, ':', (size_t)n);
    const Py_ssize_t name_n = colon ? colon - p : n;
    const char *v = colon ? colon + 1 : p + n;
    const char *end = p + n;
    while (v < end && is_ows_byte((unsigned char)*v))
        v++;
    while (end > v && is_ows_byte((unsigned char)end[-1]))
        end--;
    *value = v;
    *value_n = end - v;
    return name_n;
}

/* Where the last CRLF starts before ``before``; -1 if none. CRLF cannot overlap itself, so
 * the occurrences found from the end are those a split from the start finds. */
static Py_ssize_t prev_crlf(const char *p, Py_ssize_t before)
{
    for (Py_ssize_t at = before - 2; at >= 0; at--)
        if (p[at] == '\r' && p[at + 1] == '\n')
            return at;
    return -1;
}

static PyObject *field_block(PyObject *self, PyObject *raw)
{
    (void)self;
    if (!PyBytes_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "field_block: raw must be bytes");
        return NULL;
    }
    const char *p = PyBytes_AS_STRING(raw);
    const Py_ssize_t n = PyBytes_GET_SIZE(raw);
    /* The lines are the parts between the first CRLF and the last but one. */
    const Py_ssize_t first = next_crlf(p, 0, n);
    const Py_ssize_t last_but_one = first < n ? prev_crlf(p, prev_crlf(p, n)) : -1;
    const Py_ssize_t span = last_but_one > first ? last_but_one - first - 2 : -1;
    /* A part of L bytes gives at most L + 2 ("NoColon" -> "NoColon: "), and at most
     * (span + 2) / 2 parts fit in the span: the block fits in this much. */
    PyObject *block = PyBytes_FromStringAndSize(NULL, span < 0 ? 0 : span + (span + 2) / 2 + 1);
    if (block == NULL)
        return NULL;
    char *out = PyBytes_AS_STRING(block);
    Py_ssize_t size = 0;
    for (Py_ssize_t start = first + 2; span >= 0 && start <= last_but_one;) {
        const Py_ssize_t stop = next_crlf(p, start, n);
        const char *value;
        Py_ssize_t value_n;
        const Py_ssize_t name_n = field_parts(p + start, stop - start, &value, &value_n);
        if (size)
            out[size++] = '\n';
        memcpy(out + size, p + start, (size_t)name_n);
        out[size + name_n] = ':';
        out[size + name_n + 1] = ' ';
        memcpy(out + size + name_n + 2, value, (size_t)value_n);
        size += name_n + 2 + value_n;
        start = stop + 2;
    }
    if (_PyBytes_Resize(&block, size) < 0)
        return NULL;
    PyObject *lowered = PyBytes_FromStringAndSize(NULL, size);
    if (lowered == NULL) {
        Py_DECREF(block);
        return NULL;
    }
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(block);
    unsigned char *l = (unsigned char *)PyBytes_AS_STRING(lowered);
    for (Py_ssize_t i = 0; i < size; i++)
        l[i] = lower_of[b[i]];
    return pair_of(block, lowered);
}

/* line_prefix(raw, prefixes) -> int: where the first header line of raw that begins with
 * one of prefixes (lower-case bytes, compared in any case) ends that prefix, or -1. The
 * same as searching b"\r\n" + prefix in raw.lower(), earliest position first (issue 15:
 * a Session's key line and the header edits' quick test, per request, without a
 * lower-cased copy of the head or a regex). */
/* Where the first header line of p[0:n] beginning with one of prefixes (a tuple of bytes,
 * checked by the caller) ends that prefix, or -1. */
static Py_ssize_t find_line_prefix(const unsigned char *p, Py_ssize_t n, PyObject *prefixes)
{
    const Py_ssize_t count = PyTuple_GET_SIZE(prefixes);
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        const unsigned char *cr = memchr(p + i, '\r', (size_t)(n - i));
        if (cr == NULL)
            break;
        i = cr - p;
        if (i + 1 >= n || p[i + 1] != '\n')
            continue;
        const Py_ssize_t at = i + 2;
        for (Py_ssize_t k = 0; k < count; k++) {
            PyObject *prefix = PyTuple_GET_ITEM(prefixes, k);
            const unsigned char *q = (const unsigned char *)PyBytes_AS_STRING(prefix);
            const Py_ssize_t m = PyBytes_GET_SIZE(prefix);
            if (at + m > n)
                continue;
            Py_ssize_t j = 0;
            while (j < m && lower_of[p[at + j]] == q[j])
                j++;
            if (j == m)
                return at + m;
        }
    }
    return -1;
}

static int prefixes_ok(PyObject *raw, PyObject *prefixes, const char *usage)
{
    if (!PyBytes_Check(raw) || !PyTuple_Check(prefixes)) {
        PyErr_SetString(PyExc_TypeError, usage);
        return 0;
    }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(prefixes); k++)
        if (!PyBytes_Check(PyTuple_GET_ITEM(prefixes, k))) {
            PyErr_SetString(PyExc_TypeError, usage);
            return 0;
        }
    return 1;
}

/* line_prefix(raw, prefixes) -> int: where the first header line of raw that begins with
 * one of prefixes (lower-case bytes, compared in any case) ends that prefix, or -1. The
 * same as searching b"\r\n" + prefix in raw.lower(), earliest position first (issue 15:
 * a Session's key line and the header edits' quick test, per request, without a
 * lower-cased copy of the head or a regex). */
static PyObject *line_prefix(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    static const char usage[] = "line_prefix(raw: bytes, prefixes: tuple[bytes, ...])";
    if (nargs != 2 || !prefixes_ok(args[0], args[1], usage)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    return PyLong_FromSsize_t(find_line_prefix(p, PyBytes_GET_SIZE(args[0]), args[1]));
}


/* line_cookie(raw, prefixes, needle, limit) -> bytes | None: in the first header line that
 * begins with one of prefixes (as line_prefix), the value of the first item that begins
 * with needle (a cookie's lower-case name and "=", compared in any case), up to the next
 * ";" (the last item: up to the end of the line, less trailing spaces and tabs), at most
 * limit bytes. An item begins at the start of the line's value or after a ";", and spaces
 * or tabs. A Session COOKIE's key per request in one call, without slicing and
 * lower-casing the line in Python (line_cookie_python in request.py is the reference). */
static PyObject *line_cookie(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    static const char usage[] =
        "line_cookie(raw: bytes, prefixes: tuple[bytes, ...], needle: bytes, limit: int)";
    if (nargs != 4 || !prefixes_ok(args[0], args[1], usage) || !PyBytes_Check(args[2]) ||
        !PyLong_Check(args[3])) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    const Py_ssize_t limit = PyLong_AsSsize_t(args[3]);
    if (limit < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "line_cookie: limit must not be negative");
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    const Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    const unsigned char *needle = (const unsigned char *)PyBytes_AS_STRING(args[2]);
    const Py_ssize_t m = PyBytes_GET_SIZE(args[2]);
    const Py_ssize_t at = find_line_prefix(p, n, args[1]);
    if (at < 0)
        Py_RETURN_NONE;
    Py_ssize_t end = n;
    for (Py_ssize_t i = at; i + 1 < n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n') {
            end = i;
            break;
        }
    for (Py_ssize_t found = at; found + m <= end; found++) {
        Py_ssize_t j = 0;
        while (j < m && lower_of[p[found + j]] == needle[j])
            j++;
        if (j < m)
            continue;
        Py_ssize_t before = found;
        while (before > at && is_ows(p[before - 1]))
            before--;
        if (before != at && p[before - 1] != ';')
            continue;
        const Py_ssize_t first = found + m;
        Py_ssize_t last = first;
        while (last < end && p[last] != ';')
            last++;
        if (last == end)
            while (last > first && is_ows(p[last - 1]))
                last--;
        if (last - first > limit)
            last = first + limit;
        return PyBytes_FromStringAndSize((const char *)p + first, last - first);
    }
    Py_RETURN_NONE;
}

/* The Python chunked_end (body.py), for every body chunked_end leaves to it. */
static PyObject *chunked_end_fallback;

static PyObject *bind_chunked_end(PyObject *self, PyObject *fallback)
{
    (void)self;
    return bind_fallback(&chunked_end_fallback, fallback, "bind_chunked_end");
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* chunked_end(data, start): where the chunked body that starts at ``start`` ends (just past
 * its last CRLF), when it ends within ``data`` and is well framed; -1 when it does not end
 * there. In C for the plain shape only: sizes of 1 to 16 hex digits, no chunk extension, no
 * trailer. Anything else (which may be valid, or an error) goes to the Python function,
 * the reference, which says -1 for an error too. */
static PyObject *chunked_end(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (chunked_end_fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "chunked_end is not bound");
        return NULL;
    }
    if (nargs != 2 || !PyBytes_CheckExact(args[0]) || !PyLong_CheckExact(args[1]))
        goto fallback;
    const Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) {
        PyErr_Clear(); /* beyond Py_ssize_t: Python's */
        goto fallback;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    const Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    if (start < 0 || start > n)
        goto fallback;
    Py_ssize_t pos = start;
    for (;;) {
        unsigned long long size = 0;
        int digits = 0;
        for (; pos < n; pos++) {
            const int v = hex_value(p[pos]);
            if (v < 0)
                break;
            if (++digits > 16)
                goto fallback;
            size = size * 16 + (unsigned long long)v;
        }
        if (pos >= n)
            return PyLong_FromLong(-1); /* more to come */
        if (digits == 0 || p[pos] != '\r')
            goto fallback; /* an extension, or not a size line at all */
        if (pos + 1 >= n)
            return PyLong_FromLong(-1);
        if (p[pos + 1] != '\n')
            goto fallback;
        pos += 2;
        const Py_ssize_t left = n - pos;
        if (size == 0) { /* the last chunk: the empty line that ends the trailer section */
            if (left == 0 || (left == 1 && p[pos] == '\r'))
                return PyLong_FromLong(-1);
            if (left >= 2 && p[pos] == '\r' && p[pos + 1] == '\n')
                return PyLong_FromSsize_t(pos + 2);
            goto fallback; /* a trailer */
        }
        if (size > (unsigned long long)left || (unsigned long long)left - size < 2)
            return PyLong_FromLong(-1);
        pos += (Py_ssize_t)size;
        if (p[pos] != '\r' || p[pos + 1] != '\n')
            goto fallback;
        pos += 2;
    }
fallback:
    return PyObject_Vectorcall(chunked_end_fallback, args, (size_t)nargs, NULL);
}

/* The Python request_line (observe/access.py), for lines with a byte to escape. */
static PyObject *request_line_fallback;

static PyObject *bind_request_line(PyObject *self, PyObject *fallback)
{
    (void)self;
    return bind_fallback(&request_line_fallback, fallback, "bind_request_line");
}

/* Whether the access log shows these bytes as they are: printable ASCII other than the
 * quote and the backslash (the Python escape() keeps exactly these). */
static int log_safe(const char *p, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

/* request_line(method, target, version): "GET / HTTP/1.1" as the access log shows it, in C
 * when no byte needs escaping; anything else goes to the Python function, the reference. */
static PyObject *request_line(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (request_line_fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "request_line is not bound");
        return NULL;
    }
    if (nargs != 3 || !PyBytes_CheckExact(args[0]) || !PyBytes_CheckExact(args[1]) ||
        !PyBytes_CheckExact(args[2]))
        goto fallback;
    const char *m = PyBytes_AS_STRING(args[0]), *t = PyBytes_AS_STRING(args[1]),
               *v = PyBytes_AS_STRING(args[2]);
    const Py_ssize_t mn = PyBytes_GET_SIZE(args[0]), tn = PyBytes_GET_SIZE(args[1]),
                     vn = PyBytes_GET_SIZE(args[2]);
    if (!log_safe(m, mn) || !log_safe(t, tn) || !log_safe(v, vn))
        goto fallback;
    /* A bare version ("1.1") is shown as HTTP/1.1. */
    const Py_ssize_t prefix = (vn >= 5 && memcmp(v, "HTTP/", 5) == 0) ? 0 : 5;
    PyObject *out = PyUnicode_New(mn + 1 + tn + 1 + prefix + vn, 127);
    if (out == NULL)
        return NULL;
    char *d = (char *)PyUnicode_1BYTE_DATA(out);
    memcpy(d, m, (size_t)mn);
    d += mn;
    *d++ = ' ';
    memcpy(d, t, (size_t)tn);
    d += tn;
    *d++ = ' ';
    memcpy(d, "HTTP/", (size_t)prefix);
    d += prefix;
    memcpy(d, v, (size_t)vn);
    return out;
fallback:
    return PyObject_Vectorcall(request_line_fallback, args, (size_t)nargs, NULL);
}

static PyMethodDef methods[] = {
    {"bind_chunked_end", bind_chunked_end, METH_O,
     "bind_chunked_end(fallback): the Python chunked_end, which chunked_end calls for every "
     "body that is not of the plain shape."},
    {"chunked_end", (PyCFunction)(void (*)(void))chunked_end, METH_FASTCALL,
     "chunked_end(data, start) -> int: where a chunked body ends in data, or -1."},
    {"line_prefix", (PyCFunction)(void (*)(void))line_prefix, METH_FASTCALL,
     "line_prefix(raw, prefixes) -> int: where the first header line beginning with one of "
     "prefixes (lower-case, compared in any case) ends that prefix, or -1."},
    {"line_cookie", (PyCFunction)(void (*)(void))line_cookie, METH_FASTCALL,
     "line_cookie(raw, prefixes, needle, limit) -> bytes | None: the value of the cookie "
     "needle names in the first header line beginning with one of prefixes."},
    {"field_block", field_block, METH_O,
     "field_block(raw) -> (block, lowered): the header lines of a head as HeadRequire "
     "matches them, joined by LF, and the same lower-cased."},
    {"bind_request_line", bind_request_line, METH_O,
     "bind_request_line(fallback): the Python request_line, which request_line calls for "
     "every line with a byte to escape."},
    {"request_line", (PyCFunction)(void (*)(void))request_line, METH_FASTCALL,
     "request_line(method, target, version) -> str: the request line as the access log "
     "shows it."},
    {"bind_request", bind_request, METH_VARARGS,
     "bind_request(RequestHead, slot_names, b'HTTP/1.0', b'HTTP/1.1', fallback): the class "
     "scan_request builds, the version objects it shares, and the Python parser that "
     "parse_request_head calls for every head the scanner declines."},
    {"bind_response", bind_response, METH_VARARGS,
     "bind_response(ResponseHead, slot_names, fallback, max_head): the same for responses, "
     "with parse_response_head's default max_head."},
    {"parse_request_head", (PyCFunction)(void (*)(void))parse_request_head,
     METH_FASTCALL | METH_KEYWORDS,
     "parse_request_head(buf, limits, methods): the scanner, then the Python parser "
     "(see request.parse_request_head_python)."},
    {"parse_response_head", (PyCFunction)(void (*)(void))parse_response_head,
     METH_FASTCALL | METH_KEYWORDS,
     "parse_response_head(buf, request_method, max_head=MAX_RESPONSE_HEAD): the scanner, then "
     "the Python parser (see response.parse_response_head_python)."},
    {"bind_client_response_head", bind_client_response_head, METH_O,
     "bind_client_response_head(fallback): the Python client_response_head, which "
     "client_response_head calls for every case it does not handle itself."},
    {"client_response_head", (PyCFunction)(void (*)(void))client_head,
     METH_FASTCALL | METH_KEYWORDS,
     "client_response_head(resp, keep_alive, client_http11, location_rewrite=None): "
     "response.client_response_head_python's answer, made in C when nothing is dropped or "
     "rewritten."},
    {"scan_request", (PyCFunction)(void (*)(void))scan_request, METH_FASTCALL,
     "scan_request(buf, methods, limits) -> RequestHead | None: a plain, complete, valid "
     "request head, or None to leave it to the Python parser."},
    {"scan_response", (PyCFunction)(void (*)(void))scan_response, METH_FASTCALL,
     "scan_response(buf, head_request, max_head) -> ResponseHead | None: a plain, complete, "
     "valid response head, or None to leave it to the Python parser."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "standby.http1._speedups",
    "C fast path for the head parsers and the client's response head (see request.py and "
    "response.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    init_classes();
    str_packed = PyUnicode_InternFromString("packed");
    if (str_packed == NULL)
        return NULL;
    return PyModule_Create(&module);
}
