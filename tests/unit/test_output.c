/* test_output.c: row formatting. Escapes are checked against strings derived by hand from RFC 4180
 * (CSV) and RFC 8259 (JSON), and whole rows are parsed back with python3's csv and json modules
 * (paths with commas, quotes, newlines, tabs, backslashes, control and non-UTF-8 bytes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/output.h"

static int fails = 0;
#define CHECK(c)                                                              \
  do {                                                                        \
    if (!(c)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);   \
      fails++;                                                                \
    }                                                                         \
  } while (0)

typedef int (*field_fn)(om_buf *, const char *, size_t);
static void check_field(field_fn fn, const char *in, size_t n, const char *want, int line) {
  om_buf b = {0};
  fn(&b, in, n);
  if (!b.s || strcmp(b.s, want) != 0) {
    fprintf(stderr, "line %d: got [%s] want [%s]\n", line, b.s ? b.s : "(null)", want);
    fails++;
  }
  om_buf_free(&b);
}
#define FIELD(fn, in, want) check_field(fn, in, sizeof(in) - 1, want, __LINE__)

static const char *paths[] = {"plain.png", "a,b.png", "q\"uote.jpg", "new\nline.png",
                              "cr\rx.png", "tab\tback\\slash.png", "\xff\xfe bad utf8.png",
                              "ok \xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80.png",
                              "ctl\x01\x1f.png", "overlong \xc0\xaf and surrogate \xed\xa0\x80.png"};
#define NPATHS ((int)(sizeof paths / sizeof paths[0]))

int main(void) {
  /* RFC 4180: fields with , " CR LF are quoted and quotes doubled; others untouched. */
  FIELD(om_csv_field, "abc", "abc");
  FIELD(om_csv_field, "a,b", "\"a,b\"");
  FIELD(om_csv_field, "say \"hi\"", "\"say \"\"hi\"\"\"");
  FIELD(om_csv_field, "l1\nl2", "\"l1\nl2\"");
  FIELD(om_csv_field, "c\rr", "\"c\rr\"");
  FIELD(om_csv_field, "", "");
  /* TSV: \t \n \r \\ as backslash sequences. */
  FIELD(om_tsv_field, "a\tb\nc\rd\\e", "a\\tb\\nc\\rd\\\\e");
  /* RFC 8259 escapes; invalid UTF-8 bytes as lone surrogates \udcXY. */
  FIELD(om_json_string, "q\"b\\s/", "\"q\\\"b\\\\s/\"");
  FIELD(om_json_string, "\b\f\n\r\t\x01\x1f\x7f", "\"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"");
  FIELD(om_json_string, "\xc3\xa9", "\"\xc3\xa9\"");
  FIELD(om_json_string, "\xff", "\"\\udcff\"");
  FIELD(om_json_string, "\xc3", "\"\\udcc3\"");                     /* truncated sequence */
  FIELD(om_json_string, "\xc0\xaf", "\"\\udcc0\\udcaf\"");          /* overlong */
  FIELD(om_json_string, "\xed\xa0\x80", "\"\\udced\\udca0\\udc80\""); /* UTF-8 surrogate */
  FIELD(om_json_string, "\xf4\x90\x80\x80", "\"\\udcf4\\udc90\\udc80\\udc80\"");  /* > U+10FFFF */
  FIELD(om_json_string, "a\0b", "\"a\\u0000b\"");

  /* Rows: by hand for one case each. */
  const char *lab[] = {"cat", "dog,big", "bird"};
  int cls[2] = {1, 0};
  float sc[2] = {0.75f, 0.25f};
  om_out_format f = {OM_FMT_CSV, 2, lab, 3};
  om_result_row ok = {7, "x.png", NULL, 2, cls, sc};
  om_result_row bad = {8, "y.png", "truncated, \"bad\"", 0, NULL, NULL};
  om_buf b = {0};
  om_format_header(&b, &f);
  om_format_row(&b, &f, &ok);
  om_format_row(&b, &f, &bad);
  CHECK(b.s && strcmp(b.s, "index,path,status,top1_class,top1_label,top1_score,top2_class,"
                           "top2_label,top2_score,error\n"
                           "7,x.png,ok,1,\"dog,big\",0.75,0,cat,0.25,\n"
                           "8,y.png,error,,,,,,,\"truncated, \"\"bad\"\"\"\n") == 0);
  b.len = 0;
  f.format = OM_FMT_JSONL;
  om_format_row(&b, &f, &ok);
  om_format_row(&b, &f, &bad);
  CHECK(strcmp(b.s, "{\"index\":7,\"path\":\"x.png\",\"status\":\"ok\",\"top\":[{\"class\":1,"
                    "\"label\":\"dog,big\",\"score\":0.75},{\"class\":0,\"label\":\"cat\","
                    "\"score\":0.25}]}\n{\"index\":8,\"path\":\"y.png\",\"status\":\"error\","
                    "\"error\":\"truncated, \\\"bad\\\"\"}\n") == 0);
  b.len = 0;
  f.format = OM_FMT_TSV;
  f.labels = NULL;
  om_format_header(&b, &f);
  om_format_row(&b, &f, &ok);
  CHECK(strcmp(b.s, "index\tpath\tstatus\ttop1_class\ttop1_score\ttop2_class\ttop2_score\terror\n"
                    "7\tx.png\tok\t1\t0.75\t0\t0.25\t\n") == 0);
  om_buf_free(&b);
  /* %.9g round-trips a float exactly. */
  {
    float v = 0.1234567891f;
    char t[32];
    snprintf(t, sizeof t, "%.9g", (double)v);
    CHECK(strtof(t, NULL) == v);
  }

  /* Every format parsed back by Python, for awkward paths. */
  if (access("/usr/bin/python3", X_OK) != 0) {
    fprintf(stderr, "no python3: round-trip part skipped\n");
    return fails ? 1 : 0;
  }
  char dir[] = "/tmp/om_output_XXXXXX";
  if (!mkdtemp(dir)) return 1;
  const char *ext[3] = {"csv", "tsv", "jsonl"};
  for (int fmt = 0; fmt < 3; fmt++) {
    char p[256];
    snprintf(p, sizeof p, "%s/out.%s", dir, ext[fmt]);
    FILE *o = fopen(p, "wb");
    om_out_format ff = {fmt, 2, lab, 3};
    om_buf r = {0};
    om_format_header(&r, &ff);
    for (int i = 0; i < NPATHS; i++) {
      om_result_row row = {(size_t)i, paths[i], (i % 3 == 2) ? paths[i] : NULL, 2, cls, sc};
      om_format_row(&r, &ff, &row);
    }
    fwrite(r.s, 1, r.len, o);
    fclose(o);
    om_buf_free(&r);
  }
  /* The expected paths go to Python as hex so nothing is re-escaped on the way. */
  char hexlist[4096] = "";
  for (int i = 0; i < NPATHS; i++) {
    if (i) strcat(hexlist, ",");
    for (const unsigned char *c = (const unsigned char *)paths[i]; *c; c++)
      sprintf(hexlist + strlen(hexlist), "%02x", *c);
  }
  char script[8192];
  snprintf(script, sizeof script,
           "/usr/bin/python3 - <<'PY'\n"
           "import csv, json, os, sys\n"
           "want = [bytes.fromhex(h) for h in '%s'.split(',')]\n"
           "d = '%s'\n"
           "def unt(s):\n"
           "    out, i = [], 0\n"
           "    while i < len(s):\n"
           "        if s[i] == '\\\\':\n"
           "            out.append({'t':'\\t','n':'\\n','r':'\\r','\\\\':'\\\\'}[s[i+1]]); i += 2\n"
           "        else:\n"
           "            out.append(s[i]); i += 1\n"
           "    return ''.join(out)\n"
           "with open(d + '/out.csv', newline='', encoding='utf-8', errors='surrogateescape') as f:\n"
           "    rows = list(csv.reader(f))\n"
           "assert rows[0][:3] == ['index','path','status'] and rows[0][-1] == 'error', rows[0]\n"
           "assert len(rows) == len(want) + 1, len(rows)\n"
           "for i, r in enumerate(rows[1:]):\n"
           "    assert len(r) == len(rows[0]), r\n"
           "    assert int(r[0]) == i and os.fsencode(r[1]) == want[i], (r, want[i])\n"
           "    assert r[2] == ('error' if i %% 3 == 2 else 'ok')\n"
           "    if r[2] == 'ok': assert r[4] == 'dog,big' and float(r[5]) == 0.75, r\n"
           "    else: assert os.fsencode(r[-1]) == want[i]\n"
           "with open(d + '/out.tsv', newline='', encoding='utf-8', errors='surrogateescape') as f:\n"
           "    lines = f.read().split('\\n')\n"
           "assert lines[-1] == '' and len(lines) == len(want) + 2\n"
           "for i, l in enumerate(lines[1:-1]):\n"
           "    r = [unt(x) for x in l.split('\\t')]\n"
           "    assert int(r[0]) == i and os.fsencode(r[1]) == want[i], (r, want[i])\n"
           "with open(d + '/out.jsonl', 'rb') as f:\n"
           "    raw = f.read()\n"
           "raw.decode('utf-8')  # strict: the file itself is valid UTF-8\n"
           "for i, l in enumerate(raw.decode().split('\\n')[:-1]):\n"
           "    o = json.loads(l)\n"
           "    assert o['index'] == i and os.fsencode(o['path']) == want[i], (o, want[i])\n"
           "    if i %% 3 == 2: assert o['status'] == 'error' and os.fsencode(o['error']) == want[i]\n"
           "    else: assert o['top'][0] == {'class': 1, 'label': 'dog,big', 'score': 0.75}, o\n"
           "print('python round-trip ok')\n"
           "PY\n",
           hexlist, dir);
  int rc = system(script);
  CHECK(rc == 0);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  if (fails) fprintf(stderr, "%d checks failed\n", fails);
  return fails ? 1 : 0;
}
