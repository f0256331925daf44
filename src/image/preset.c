/* preset.c: named preprocessing presets (each model family's sizes, channel order and scale) and
 * the "key=value,..." spec parser/formatter declared in image.h.
 *
 * The tf preset is Keras' preprocess_input(mode="tf"): x / 127.5 - 1, i.e. values in -1..1
 * (resize shorter side to 224, center crop 224). Means/stds are given in OUTPUT channel order, so
 * caffe's 103.939/116.779/123.68 are B, G, R. */
#include "image/image_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *name;
  om_preproc pp;
} preset_def;

#define IMAGENET_MEAN {0.485f, 0.456f, 0.406f}
#define IMAGENET_STD {0.229f, 0.224f, 0.225f}

static const preset_def presets[] = {
    {"torchvision", {224, 224, 3, OM_RESIZE_SHORTER_CROP, 256, OM_INTERP_BILINEAR, 1.0f / 255.0f,
                     IMAGENET_MEAN, IMAGENET_STD, 0, 0, "torchvision"}},
    {"inception", {299, 299, 3, OM_RESIZE_SHORTER_CROP, 342, OM_INTERP_BILINEAR, 1.0f / 255.0f,
                   IMAGENET_MEAN, IMAGENET_STD, 0, 0, "inception"}},
    {"caffe", {224, 224, 3, OM_RESIZE_SHORTER_CROP, 256, OM_INTERP_BILINEAR, 1.0f,
               {103.939f, 116.779f, 123.68f}, {1.0f, 1.0f, 1.0f}, 1, 0, "caffe"}},
    {"tf", {224, 224, 3, OM_RESIZE_SHORTER_CROP, 224, OM_INTERP_BILINEAR, 1.0f / 127.5f,
            {1.0f, 1.0f, 1.0f}, {1.0f, 1.0f, 1.0f}, 0, 0, "tf"}},
    {"fashion-mnist", {28, 28, 1, OM_RESIZE_STRETCH, 0, OM_INTERP_BILINEAR, 1.0f / 255.0f,
                       {0.2860f, 0.2860f, 0.2860f}, {0.3530f, 0.3530f, 0.3530f}, 0, 0,
                       "fashion-mnist"}},
    {"none", {224, 224, 3, OM_RESIZE_STRETCH, 0, OM_INTERP_BILINEAR, 1.0f / 255.0f,
              {0.0f, 0.0f, 0.0f}, {1.0f, 1.0f, 1.0f}, 0, 0, "none"}},
    {"raw", {224, 224, 3, OM_RESIZE_STRETCH, 0, OM_INTERP_BILINEAR, 1.0f / 255.0f,
             {0.0f, 0.0f, 0.0f}, {1.0f, 1.0f, 1.0f}, 0, 0, "raw"}},
};

static const char *const preset_names[] = {"torchvision", "inception", "caffe", "tf",
                                           "fashion-mnist", "none", "raw", NULL};

const char *const *om_preproc_preset_names(void) { return preset_names; }

int om_preproc_preset(const char *name, om_preproc *pp, char *err) {
  for (size_t i = 0; i < OM_ARRAY_LEN(presets); i++) {
    if (name && strcmp(name, presets[i].name) == 0) {
      *pp = presets[i].pp;
      return OM_OK;
    }
  }
  return om_seterr(err, OM_E_INVALID,
                   "unknown preprocessing preset '%s' (known: torchvision, inception, caffe, tf, "
                   "fashion-mnist, none, raw)",
                   name ? name : "");
}

static int parse_int(const char *s, int lo, int hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

/* A float, or a fraction A/B when allow_frac ("scale=1/255"). */
static int parse_float(const char *s, int allow_frac, float *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s) return -1;
  if (allow_frac && *end == '/') {
    const char *t = end + 1;
    double d = strtod(t, &end);
    if (end == t || d == 0.0) return -1;
    v /= d;
  }
  if (*end || !isfinite(v) || fabs(v) > 3.4e38) return -1;
  *out = (float)v;
  return 0;
}

/* One value (used for all channels) or three separated by '/'. */
static int parse_triple(const char *s, float out[3]) {
  char tmp[128];
  if (strlen(s) >= sizeof tmp) return -1;
  strcpy(tmp, s);
  char *parts[4];
  int n = 0;
  for (char *p = tmp, *q; n < 4; p = q + 1) {
    parts[n++] = p;
    q = strchr(p, '/');
    if (!q) break;
    *q = 0;
  }
  if (n != 1 && n != 3) return -1;
  float v[3];
  for (int i = 0; i < n; i++)
    if (parse_float(parts[i], 0, &v[i])) return -1;
  for (int i = 0; i < 3; i++) out[i] = v[n == 1 ? 0 : i];
  return 0;
}

static int apply_kv(om_preproc *pp, const char *k, const char *v, char *err) {
  int iv, a, b;
  if (strcmp(k, "size") == 0) {
    char *x = strchr(v, 'x');
    if (!x) {
      if (parse_int(v, 1, 65536, &iv)) goto bad;
      pp->out_w = pp->out_h = iv;
    } else {
      char wbuf[32];
      size_t n = (size_t)(x - v);
      if (n == 0 || n >= sizeof wbuf) goto bad;
      memcpy(wbuf, v, n);
      wbuf[n] = 0;
      if (parse_int(wbuf, 1, 65536, &a) || parse_int(x + 1, 1, 65536, &b)) goto bad;
      pp->out_w = a;
      pp->out_h = b;
    }
  } else if (strcmp(k, "resize") == 0) {
    if (parse_int(v, 0, 65536, &iv)) goto bad;
    pp->resize = iv;
  } else if (strcmp(k, "mode") == 0) {
    if (strcmp(v, "crop") == 0) pp->resize_mode = OM_RESIZE_SHORTER_CROP;
    else if (strcmp(v, "stretch") == 0) pp->resize_mode = OM_RESIZE_STRETCH;
    else if (strcmp(v, "none") == 0) pp->resize_mode = OM_RESIZE_NONE;
    else goto bad;
  } else if (strcmp(k, "interp") == 0) {
    if (strcmp(v, "bilinear") == 0) pp->interp = OM_INTERP_BILINEAR;
    else if (strcmp(v, "nearest") == 0) pp->interp = OM_INTERP_NEAREST;
    else if (strcmp(v, "bicubic") == 0) pp->interp = OM_INTERP_BICUBIC;
    else goto bad;
  } else if (strcmp(k, "scale") == 0) {
    float f;
    if (parse_float(v, 1, &f) || f == 0.0f) goto bad;
    pp->scale = f;
  } else if (strcmp(k, "mean") == 0) {
    if (parse_triple(v, pp->mean)) goto bad;
  } else if (strcmp(k, "std") == 0) {
    float s3[3];
    if (parse_triple(v, s3) || s3[0] == 0.0f || s3[1] == 0.0f || s3[2] == 0.0f) goto bad;
    memcpy(pp->std, s3, sizeof s3);
  } else if (strcmp(k, "order") == 0) {
    if (strcmp(v, "rgb") == 0) pp->bgr = 0;
    else if (strcmp(v, "bgr") == 0) pp->bgr = 1;
    else goto bad;
  } else if (strcmp(k, "channels") == 0) {
    if (strcmp(v, "1") == 0) pp->channels = 1;
    else if (strcmp(v, "3") == 0) pp->channels = 3;
    else goto bad;
  } else if (strcmp(k, "layout") == 0) {
    if (strcmp(v, "nchw") == 0) pp->nhwc = 0;
    else if (strcmp(v, "nhwc") == 0) pp->nhwc = 1;
    else goto bad;
  } else {
    return om_seterr(err, OM_E_INVALID,
                     "preprocess spec: unknown key '%s' (keys: preset, size, resize, mode, interp, "
                     "scale, mean, std, order, channels, layout)",
                     k);
  }
  return OM_OK;
bad:
  return om_seterr(err, OM_E_INVALID, "preprocess spec: bad value '%s' for key '%s'", v, k);
}

int om_preproc_parse(const char *spec, om_preproc *pp, char *err) {
  if (!spec) return OM_OK;
  size_t len = strlen(spec);
  char *buf = malloc(len + 1);
  if (!buf) return om_seterr(err, OM_E_NOMEM, "preprocess spec: out of memory");
  int rc = OM_OK;
  om_preproc work = *pp;
  /* Two passes: preset= first (wherever it appears), then the other keys on top of it. */
  for (int pass = 0; pass < 2 && rc == OM_OK; pass++) {
    memcpy(buf, spec, len + 1);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok && rc == OM_OK;
         tok = strtok_r(NULL, ",", &save)) {
      while (*tok == ' ') tok++;
      if (!*tok) continue;
      char *eq = strchr(tok, '=');
      if (!eq) {
        rc = om_seterr(err, OM_E_INVALID, "preprocess spec: '%s' is not key=value", tok);
        break;
      }
      *eq = 0;
      const char *k = tok, *v = eq + 1;
      int is_preset = strcmp(k, "preset") == 0;
      if (pass == 0 && is_preset) rc = om_preproc_preset(v, &work, err);
      else if (pass == 1 && !is_preset) rc = apply_kv(&work, k, v, err);
    }
  }
  free(buf);
  if (rc == OM_OK) *pp = work;
  return rc;
}

static const char *mode_name(int m) {
  return m == OM_RESIZE_STRETCH ? "stretch" : m == OM_RESIZE_NONE ? "none" : "crop";
}
static const char *interp_name(int i) {
  return i == OM_INTERP_NEAREST ? "nearest" : i == OM_INTERP_BICUBIC ? "bicubic" : "bilinear";
}

char *om_preproc_format(const om_preproc *pp, char *buf, size_t n) {
  if (!buf || n == 0) return buf;
  char size[48];
  if (pp->out_w == pp->out_h) snprintf(size, sizeof size, "%d", pp->out_w);
  else snprintf(size, sizeof size, "%dx%d", pp->out_w, pp->out_h);
  int k = 0;
  if (pp->preset) k = snprintf(buf, n, "preset=%s,", pp->preset);
  if (k < 0 || (size_t)k >= n) k = 0;
  snprintf(buf + k, n - (size_t)k,
           "size=%s,resize=%d,mode=%s,interp=%s,scale=%.9g,mean=%.9g/%.9g/%.9g,std=%.9g/%.9g/%.9g,"
           "order=%s,channels=%d,layout=%s",
           size, pp->resize, mode_name(pp->resize_mode), interp_name(pp->interp),
           (double)pp->scale, (double)pp->mean[0], (double)pp->mean[1], (double)pp->mean[2],
           (double)pp->std[0], (double)pp->std[1], (double)pp->std[2], pp->bgr ? "bgr" : "rgb",
           pp->channels, pp->nhwc ? "nhwc" : "nchw");
  return buf;
}
