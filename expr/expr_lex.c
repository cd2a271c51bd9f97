/* The expression language's lexer: numbers, names, operators, separators.
 * Spaces, tabs, carriage returns and '#' comments are skipped; a newline is
 * a token because it ends a statement (the parser ignores it inside
 * parentheses). */
#include "expr_internal.h"

#include <stdlib.h>

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

/* Scans a decimal number with an optional exponent at lx->pos. Only the
 * scanned bytes go to strtod (copied out), so strtod's wider grammar (hex,
 * "inf", "nan") is never reached. Out-of-range numbers become inf or 0, as
 * strtod makes them. */
static bool lex_number(ex_lexer *lx, ex_token *tok, ag_expr_error *err) {
    const char *s = lx->src;
    size_t i = lx->pos, n = lx->len;
    bool digits = false;
    while (i < n && is_digit(s[i])) i++, digits = true;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i])) i++, digits = true;
    }
    if (!digits) {
        ex_error_at(err, s, n, lx->pos, "digits after '.'", "a lone '.' is not a number");
        return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t e = i + 1;
        if (e < n && (s[e] == '+' || s[e] == '-')) e++;
        if (e >= n || !is_digit(s[e])) {
            ex_error_at(err, s, n, e, "the exponent's digits, e.g. 1e-3",
                        "malformed number: exponent without digits");
            return false;
        }
        while (e < n && is_digit(s[e])) e++;
        i = e;
    }
    if (i < n && is_name_start(s[i])) {
        ex_error_at(err, s, n, i, "an operator between a number and a name, e.g. 2*x",
                    "a number runs into a name");
        return false;
    }
    size_t len = i - lx->pos;
    char small[64], *buf = len < sizeof small ? small : malloc(len + 1);
    if (!buf) {
        ex_error_at(err, s, n, lx->pos, NULL, "out of memory reading a number");
        return false;
    }
    memcpy(buf, s + lx->pos, len);
    buf[len] = '\0';
    tok->num = strtod(buf, NULL); /* ERANGE: inf or 0, which is what we want */
    if (buf != small) free(buf);
    tok->kind = TK_NUM;
    tok->len = len;
    lx->pos = i;
    return true;
}

bool ex_lex_next(ex_lexer *lx, ex_token *tok, ag_expr_error *err) {
    const char *s = lx->src;
    size_t n = lx->len;
    for (;;) { /* skip blanks and comments */
        while (lx->pos < n && (s[lx->pos] == ' ' || s[lx->pos] == '\t' || s[lx->pos] == '\r'))
            lx->pos++;
        if (lx->pos < n && s[lx->pos] == '#') {
            while (lx->pos < n && s[lx->pos] != '\n') lx->pos++;
            continue;
        }
        break;
    }
    tok->pos = lx->pos;
    tok->line = lx->line;
    tok->column = (uint32_t)(lx->pos - lx->line_start + 1);
    tok->len = 1;
    tok->num = 0;
    if (lx->pos >= n) {
        tok->kind = TK_END;
        tok->len = 0;
        return true;
    }
    char c = s[lx->pos];
    if (is_digit(c) || c == '.') return lex_number(lx, tok, err);
    if (is_name_start(c)) {
        size_t i = lx->pos;
        while (i < n && is_name_char(s[i])) i++;
        tok->kind = TK_NAME;
        tok->len = i - lx->pos;
        lx->pos = i;
        return true;
    }
    switch (c) {
    case ';': tok->kind = TK_SEP; break;
    case '\n':
        tok->kind = TK_NEWLINE;
        lx->line++;
        lx->line_start = lx->pos + 1;
        break;
    case '+': tok->kind = TK_PLUS; break;
    case '-': tok->kind = TK_MINUS; break;
    case '*': tok->kind = TK_STAR; break;
    case '/': tok->kind = TK_SLASH; break;
    case '^': tok->kind = TK_CARET; break;
    case '(': tok->kind = TK_LPAREN; break;
    case ')': tok->kind = TK_RPAREN; break;
    case ',': tok->kind = TK_COMMA; break;
    case '=': tok->kind = TK_ASSIGN; break;
    case '[': tok->kind = TK_LBRACKET; break;
    case ']': tok->kind = TK_RBRACKET; break;
    case '@': tok->kind = TK_AT; break;
    case '\'': tok->kind = TK_QUOTE; break;
    default: {
        const char *expected = "a number, a name, an operator (+ - * / ^), '(', ')', ',', '=' or ';'";
        unsigned char u = (unsigned char)c;
        if (u >= 0x20 && u < 0x7f)
            ex_error_at(err, s, n, lx->pos, expected, "unexpected character '%c'", c);
        else
            ex_error_at(err, s, n, lx->pos, expected, "unexpected byte 0x%02x", u);
        return false;
    }
    }
    lx->pos++;
    return true;
}
