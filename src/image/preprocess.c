/* preprocess.c: om_preprocess, decoded image -> model input tensor, reproducing torchvision's
 * Resize(N) + CenterCrop(S) on a Pillow image, then ToTensor + Normalize in float32 as torch does
 * them ((px / 255 - mean) / std, each op rounded to float32). Only the cropped window is resampled;
 * all buffers come from the caller's reusable scratch. */
#include "image/image_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define OM_PP_MAX_SIDE 65536

void om_preproc_scratch_free(om_preproc_scratch *s) {
  if (!s) return;
  free(s->buf);
  s->buf = NULL;
  s->cap = 0;
}

static int scratch_reserve(om_preproc_scratch *s, size_t n, char *err) {
  if (n <= s->cap) return OM_OK;
  size_t cap = n + n / 4 + 4096;
  void *p = malloc(cap);
  if (!p) return om_seterr(err, OM_E_NOMEM, "preprocess: out of memory for %zu bytes of scratch", n);
  free(s->buf);
  s->buf = p;
  s->cap = cap;
  return OM_OK;
}

/* torchvision's CenterCrop: offset round((size - crop) / 2) with Python's round-half-even, or a
 * negative offset (zero padding, left/top gets the smaller half) when the image is smaller. */
static int crop_offset(int size, int crop) {
  if (crop > size) return -((crop - size) / 2);
  return (int)nearbyint((size - crop) / 2.0);
}

/* LUT of (px * scale - mean) / std per output channel, computed with float32 ops. When scale is
 * the reciprocal of a (half-)integer d (1/255, 1/127.5), divide by d as torch's ToTensor does:
 * px * (1/255) and px / 255 differ in the last bit for some px. */
static void make_lut(const om_preproc *pp, int nch, float lut[3][256]) {
  float sc = pp->scale;
  double inv = sc != 0.0f ? 1.0 / (double)sc : 0.0;
  double d = nearbyint(inv * 2.0) / 2.0;
  int divide = d > 0.0 && d < 1e9 && (float)(1.0 / d) == sc;
  float df = (float)d;
  for (int c = 0; c < nch; c++) {
    for (int v = 0; v < 256; v++) {
      volatile float x = divide ? (float)v / df : (float)v * sc; /* no fused multiply-add */
      volatile float y = x - pp->mean[c];
      lut[c][v] = y / pp->std[c];
    }
  }
}

/* Crop mode's shorter-side target: `resize`, or the larger output side when it is 0. */
static int shorter_target(const om_preproc *pp) {
  return pp->resize > 0 ? pp->resize : (pp->out_w > pp->out_h ? pp->out_w : pp->out_h);
}

int om_preproc_decode_min_side(const om_preproc *pp) {
  switch (pp->resize_mode) {
  case OM_RESIZE_SHORTER_CROP: return shorter_target(pp);
  case OM_RESIZE_STRETCH: return pp->out_w > pp->out_h ? pp->out_w : pp->out_h; /* EXIF may turn it */
  default: return 0;
  }
}

int om_preprocess(const om_image *img, const om_preproc *pp, float *out, om_preproc_scratch *s,
                  char *err) {
  const char *name = pp->preset ? pp->preset : "custom";
  if (!img || !img->px || img->w <= 0 || img->h <= 0 || (img->c != 1 && img->c != 3))
    return om_seterr(err, OM_E_INVALID, "preprocess: no decoded image (or %d channels)",
                     img ? img->c : 0);
  if (pp->out_w <= 0 || pp->out_h <= 0 || pp->out_w > OM_PP_MAX_SIDE || pp->out_h > OM_PP_MAX_SIDE)
    return om_seterr(err, OM_E_INVALID, "preprocess (%s): bad output size %dx%d", name, pp->out_w,
                     pp->out_h);
  if (pp->channels != 1 && pp->channels != 3)
    return om_seterr(err, OM_E_INVALID, "preprocess (%s): channels must be 1 or 3, not %d", name,
                     pp->channels);
  for (int c = 0; c < pp->channels; c++)
    if (!(pp->std[c] != 0.0f) || !isfinite(pp->std[c]) || !isfinite(pp->mean[c]))
      return om_seterr(err, OM_E_INVALID, "preprocess (%s): std[%d] must be finite and nonzero",
                       name, c);
  if (pp->resize < 0 || pp->resize > OM_PP_MAX_SIDE)
    return om_seterr(err, OM_E_INVALID, "preprocess (%s): bad resize %d", name, pp->resize);
  if (pp->interp != OM_INTERP_BILINEAR && pp->interp != OM_INTERP_NEAREST &&
      pp->interp != OM_INTERP_BICUBIC)
    return om_seterr(err, OM_E_INVALID, "preprocess (%s): unknown interpolation %d", name,
                     pp->interp);

  const int w = img->w, h = img->h, ow = pp->out_w, oh = pp->out_h;
  int rw, rh;
  switch (pp->resize_mode) {
  case OM_RESIZE_SHORTER_CROP: {
    /* torchvision _compute_resized_output_size: short side = r, long = int(r * long / short). */
    int r = shorter_target(pp);
    int sh = w <= h ? w : h, lg = w <= h ? h : w;
    double nl = (double)((int64_t)r * lg) / (double)sh;
    /* Only the crop window is computed, so a long resized side costs nothing; just keep it an int. */
    if (nl > (double)(1 << 30))
      return om_seterr(err, OM_E_LIMIT,
                       "preprocess (%s): a %dx%d image resized to shorter side %d is too long",
                       name, w, h, r);
    int nlong = (int)nl;
    if (nlong < 1) nlong = 1;
    rw = w <= h ? r : nlong;
    rh = w <= h ? nlong : r;
    break;
  }
  case OM_RESIZE_STRETCH: rw = ow; rh = oh; break;
  case OM_RESIZE_NONE: rw = w; rh = h; break;
  default:
    return om_seterr(err, OM_E_INVALID, "preprocess (%s): unknown resize mode %d", name,
                     pp->resize_mode);
  }

  /* Window of the resized image that lands in the output; the rest is padding (pixel 0). */
  const int offx = crop_offset(rw, ow), offy = crop_offset(rh, oh);
  const int x0 = offx > 0 ? offx : 0, y0 = offy > 0 ? offy : 0;
  const int x1 = offx + ow < rw ? offx + ow : rw, y1 = offy + oh < rh ? offy + oh : rh;

  /* A gray model fed an RGB image gets Pillow's convert("L") first, then the resize; an RGB model
   * fed a gray image resizes the gray plane (identical per channel) and repeats it. */
  const int to_gray = img->c == 3 && pp->channels == 1;
  const int c = to_gray ? 1 : img->c;
  size_t gray_bytes = to_gray ? (size_t)w * (size_t)h : 0;
  size_t win_bytes = (size_t)(x1 - x0) * (size_t)(y1 - y0) * (size_t)c;
  size_t rs = om_resample_scratch_size(w, h, c, rw, rh, pp->interp, x0, y0, x1, y1);
  size_t need = 0;
  if (rs == 0 || om_add_size(gray_bytes + 64, win_bytes + 64, &need) || om_add_size(need, rs, &need))
    return om_seterr(err, OM_E_LIMIT, "preprocess (%s): scratch size overflows for %dx%d", name,
                     w, h);
  int rc = scratch_reserve(s, need, err);
  if (rc != OM_OK) return rc;
  uint8_t *gray = s->buf;
  uint8_t *win = gray + OM_ALIGN_UP(gray_bytes, 64);
  uint8_t *rsbuf = win + OM_ALIGN_UP(win_bytes, 64);
  const uint8_t *src = img->px;
  if (to_gray) {
    om_px_convert_row(img->px, 3, gray, 1, (size_t)w * (size_t)h, NULL);
    src = gray;
  }
  om_resample_window(src, w, h, c, rw, rh, pp->interp, x0, y0, x1, y1, win, rsbuf);

  float lut[3][256];
  const int nch = pp->channels;
  make_lut(pp, nch, lut);
  int srcch[3];
  for (int oc = 0; oc < nch; oc++) srcch[oc] = c == 1 ? 0 : (pp->bgr ? 2 - oc : oc);
  const size_t plane = (size_t)ow * (size_t)oh, nxw = (size_t)(x1 - x0);
  for (int y = 0; y < oh; y++) {
    int ry = y + offy;
    int yin = ry >= y0 && ry < y1;
    const uint8_t *wr = yin ? win + (size_t)(ry - y0) * nxw * c : NULL;
    for (int x = 0; x < ow; x++) {
      int rx = x + offx;
      const uint8_t *p = (yin && rx >= x0 && rx < x1) ? wr + (size_t)(rx - x0) * c : NULL;
      size_t pix = (size_t)y * ow + x;
      for (int oc = 0; oc < nch; oc++) {
        float v = lut[oc][p ? p[srcch[oc]] : 0];
        if (pp->nhwc) out[pix * nch + oc] = v;
        else out[(size_t)oc * plane + pix] = v;
      }
    }
  }
  return OM_OK;
}
