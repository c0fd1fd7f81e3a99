/* Fast path for the two head parsers in request.py and response.py.
 *
 * Bytes in, a tuple out, no I/O and no state. Each scanner accepts only the heads that the
 * Python parser would accept with a plain, common shape (the interesting headers limited to
 * the ones browsers, crawlers and web servers send every time) and returns None for
 * anything else: an incomplete head, any invalid byte, a limit reached, a rare header.
 * None means "ask the Python parser", which stays the one authority on errors, limits and
 * unusual framing. So this file can only make a head faster, never change its meaning; the
 * property tests in tests/http1/test_speedups.py compare both on generated heads.
 *
 * Character classes are those of _grammar.py (RFC 9110/9112):
 *   tchar       !#$%&'*+-.^_`|~ DIGIT ALPHA
 *   field char  HTAB, SP..~, 0x80..0xff
 *   target char !..~, 0x80..0xff
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Class bits per byte. */
#define C_TCHAR 1
#define C_FIELD 2
#define C_TARGET 4
#define C_DIGIT 8

static unsigned char cls[256];

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
        if ((c >= 0x21 && c <= 0x7e) || c >= 0x80)
            bits |= C_TARGET;
        if (c >= '0' && c <= '9')
            bits |= C_DIGIT;
        cls[c] = bits;
    }
    for (const char *p = tchar_extra; *p; p++)
        cls[(unsigned char)*p] |= C_TCHAR;
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

/* Request header names (request.py _INTERESTING_RE). */
static enum name request_name(const unsigned char *s, Py_ssize_t n)
{
    switch (s[0] | 0x20) {
    case 'h':
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

/* Digits only, 1 to 18 of them; -1 otherwise. */
static long long parse_length(const unsigned char *p, Py_ssize_t start, Py_ssize_t end)
{
    Py_ssize_t n = end - start;
    if (n < 1 || n > MAX_LENGTH_DIGITS)
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

/* A list of borrowed-to-new references: builds ((start, end),) */
static PyObject *span_list(Py_ssize_t start, Py_ssize_t end)
{
    PyObject *span = Py_BuildValue("(nn)", start, end);
    if (span == NULL)
        return NULL;
    PyObject *list = PyList_New(1);
    if (list == NULL) {
        Py_DECREF(span);
        return NULL;
    }
    PyList_SET_ITEM(list, 0, span);
    return list;
}

/* scan_request(buf, methods, limits) -> tuple | None
 *
 * limits: (max_request_line, max_uri, max_header_line, max_header_count, max_head,
 * max_body) as in Limits. The tuple: (stop, method, target, http11, host, body,
 * content_length, keep_alive, drops, xff_end) with drops None or [(start, end)]; the
 * fields of RequestHead as request.parse_request_head sets them. */
static PyObject *scan_request(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3 || !PyBytes_CheckExact(args[0]) || !PyAnySet_Check(args[1]) ||
        !PyTuple_CheckExact(args[2]) || PyTuple_GET_SIZE(args[2]) != 6) {
        PyErr_SetString(PyExc_TypeError, "scan_request(bytes, frozenset, 6-tuple)");
        return NULL;
    }
    Py_ssize_t lim[6];
    for (int k = 0; k < 6; k++) {
        lim[k] = PyLong_AsSsize_t(PyTuple_GET_ITEM(args[2], k));
        if (lim[k] == -1 && PyErr_Occurred())
            return NULL;
    }
    const Py_ssize_t max_request_line = lim[0], max_uri = lim[1], max_header_line = lim[2],
                     max_header_count = lim[3], max_head = lim[4], max_body = lim[5];

    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    const Py_ssize_t len = PyBytes_GET_SIZE(args[0]);

    /* Request line: method SP target SP HTTP/1.x CRLF (leading empty lines: Python). */
    Py_ssize_t i = 0;
    while (i < len && (cls[p[i]] & C_TCHAR))
        i++;
    const Py_ssize_t method_end = i;
    if (method_end == 0 || i >= len || p[i] != ' ')
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
            break;
        case N_CONTENT_LENGTH: {
            if (length >= 0)
                Py_RETURN_NONE;
            Py_ssize_t s = value_start, e = value_end;
            strip_ows(p, &s, &e);
            length = parse_length(p, s, e);
            if (length < 0 || (max_body && length > max_body))
                Py_RETURN_NONE;
            break;
        }
        case N_CONNECTION:
            if (connection != CONN_NONE)
                Py_RETURN_NONE;
            connection = connection_value(p, value_start, value_end);
            if (connection == CONN_NONE)
                Py_RETURN_NONE;
            conn_start = pos - 2; /* from the CRLF before the line */
            conn_end = value_end;
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
    int allowed = PySet_Contains(args[1], method);
    if (allowed != 1) {
        Py_DECREF(method);
        if (allowed < 0)
            return NULL;
        Py_RETURN_NONE; /* 405 comes from Python, with its message */
    }
    int keep_alive = http11;
    if (connection == CONN_KEEP_ALIVE)
        keep_alive = 1;
    else if (connection == CONN_CLOSE)
        keep_alive = 0;
    PyObject *drops;
    if (conn_start >= 0) {
        drops = span_list(conn_start, conn_end);
        if (drops == NULL) {
            Py_DECREF(method);
            return NULL;
        }
    } else {
        drops = Py_NewRef(Py_None);
    }
    PyObject *host;
    if (host_start >= 0)
        host = PyBytes_FromStringAndSize((const char *)p + host_start, host_end - host_start);
    else
        host = Py_NewRef(Py_None);
    if (host == NULL) {
        Py_DECREF(method);
        Py_DECREF(drops);
        return NULL;
    }
    return Py_BuildValue("(nNy#ONiLONn)", stop, method, (const char *)p + target_start,
                         target_end - target_start, http11 ? Py_True : Py_False, host,
                         length > 0 ? BODY_LENGTH : BODY_NONE, length > 0 ? length : 0LL,
                         keep_alive ? Py_True : Py_False, drops, xff_end);
}

/* scan_response(buf, head_request, max_head) -> tuple | None
 *
 * The tuple: (stop, status, http11, body, content_length, keep_alive, keep_alive_span,
 * drops), the fields of ResponseHead as response.parse_response_head sets them
 * (_locations is None on this path). 1xx statuses are left to Python. */
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
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    const Py_ssize_t len = PyBytes_GET_SIZE(args[0]);

    /* Status line: HTTP/1.x SP DDD [SP reason] CRLF */
    if (len < 14 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
        p[8] != ' ' || !(cls[p[9]] & C_DIGIT) || !(cls[p[10]] & C_DIGIT) ||
        !(cls[p[11]] & C_DIGIT))
        Py_RETURN_NONE;
    const int http11 = p[7] == '1';
    const int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (status < 200)
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
        case N_CONTENT_LENGTH: {
            if (length >= 0)
                Py_RETURN_NONE;
            Py_ssize_t s = value_start, e = value_end;
            strip_ows(p, &s, &e);
            length = parse_length(p, s, e);
            if (length < 0)
                Py_RETURN_NONE;
            break;
        }
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
            if (connection != CONN_NONE)
                Py_RETURN_NONE;
            connection = connection_value(p, value_start, value_end);
            if (connection == CONN_NONE)
                Py_RETURN_NONE;
            conn_start = pos - 2;
            conn_end = value_end;
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

    PyObject *ka_span, *drops;
    if (connection == CONN_KEEP_ALIVE) {
        ka_span = Py_BuildValue("(nn)", conn_start, conn_end);
        if (ka_span == NULL)
            return NULL;
        drops = Py_NewRef(Py_None);
    } else if (connection == CONN_CLOSE) {
        ka_span = Py_NewRef(Py_None);
        drops = span_list(conn_start, conn_end);
        if (drops == NULL) {
            Py_DECREF(ka_span);
            return NULL;
        }
    } else {
        ka_span = Py_NewRef(Py_None);
        drops = Py_NewRef(Py_None);
    }
    return Py_BuildValue("(niOiLONN)", stop, status, http11 ? Py_True : Py_False, body, length,
                         keep_alive ? Py_True : Py_False, ka_span, drops);
}

static PyMethodDef methods[] = {
    {"scan_request", (PyCFunction)(void (*)(void))scan_request, METH_FASTCALL,
     "scan_request(buf, methods, limits) -> tuple | None: a plain, complete, valid request "
     "head, or None to leave it to the Python parser."},
    {"scan_response", (PyCFunction)(void (*)(void))scan_response, METH_FASTCALL,
     "scan_response(buf, head_request, max_head) -> tuple | None: a plain, complete, valid "
     "response head, or None to leave it to the Python parser."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "standby.http1._speedups",
    "C fast path for the head parsers (see request.py and response.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    init_classes();
    return PyModule_Create(&module);
}
