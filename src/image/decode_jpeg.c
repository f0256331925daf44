/* decode_jpeg.c: JPEG through libjpeg-turbo with the settings Pillow uses (islow DCT, fancy
 * upsampling), so pixels match Pillow exactly. Corrupt-data warnings are errors (a truncated file
 * is refused, not gray-padded); CMYK/YCCK is converted like Pillow (Adobe inverted CMYK); optional
 * DCT-domain downscale; EXIF orientation read from APP1. */
#include "image/image_internal.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/* A progressive file with thousands of tiny scans costs minutes of CPU; real files have < 100. */
#define OM_JPEG_MAX_SCANS 1000

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jb;
  char msg[JMSG_LENGTH_MAX + 32];
} jerr_ctx;

static void on_error(j_common_ptr ci) {
  jerr_ctx *e = (jerr_ctx *)ci->err;
  ci->err->format_message(ci, e->msg);
  longjmp(e->jb, 1);
}

/* Warnings (level -1) that mean the pixel data is damaged or missing are promoted to errors;
 * trace messages and benign warnings (unknown Adobe transform, extraneous bytes) are ignored. */
static void on_message(j_common_ptr ci, int level) {
  if (level != -1) return;
  int code = ci->err->msg_code;
  if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE ||
      code == JWRN_MUST_RESYNC) {
    jerr_ctx *e = (jerr_ctx *)ci->err;
    ci->err->format_message(ci, e->msg);
    longjmp(e->jb, 1);
  }
}

static void on_progress(j_common_ptr ci) {
  if (ci->is_decompressor && ((j_decompress_ptr)ci)->input_scan_number > OM_JPEG_MAX_SCANS) {
    jerr_ctx *e = (jerr_ctx *)ci->err;
    snprintf(e->msg, sizeof e->msg, "more than %d scans (refused: decoding cost)",
             OM_JPEG_MAX_SCANS);
    longjmp(e->jb, 1);
  }
}

/* Pillow reads CMYK JPEGs as Adobe-inverted ("CMYK;I") and converts with
 * r = nk - nk*c/255 (rounded division), nk = 255 - k. */
static void cmyk_row_to_rgb(const uint8_t *in, uint8_t *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned nk = in[4 * i + 3]; /* raw k is already 255 - K after inversion */
    for (int ch = 0; ch < 3; ch++) {
      unsigned c = 255u - in[4 * i + ch];
      unsigned t = c * nk + 128u;
      unsigned m = ((t >> 8) + t) >> 8;
      out[3 * i + ch] = (uint8_t)(nk - m); /* m <= nk, no clipping needed */
    }
  }
}

typedef struct {
  struct jpeg_decompress_struct ci;
  jerr_ctx je;
  struct jpeg_progress_mgr prog;
  uint8_t *row;  /* one decoded scanline (library colour space) */
  uint8_t *rgb;  /* one RGB scanline (CMYK -> RGB -> L path) */
  int created;
} jpeg_state;

static int decode_body(jpeg_state *st, const uint8_t *buf, size_t len, const om_decode_opts *o,
                       om_image *out, char *err) {
  struct jpeg_decompress_struct *ci = &st->ci;
  jpeg_create_decompress(ci);
  st->created = 1;
  ci->progress = &st->prog;
  jpeg_mem_src(ci, buf, (unsigned long)len);
  jpeg_save_markers(ci, JPEG_APP0 + 1, 0xffff);
  jpeg_read_header(ci, TRUE);

  out->format = "jpeg";
  out->src_w = (int)ci->image_width;
  out->src_h = (int)ci->image_height;
  out->exif_orientation = 1;
  for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
      out->exif_orientation = om_exif_orientation(m->data, m->data_length);
      break;
    }
  }
  int rc = om_image_check_dims("jpeg", ci->image_width, ci->image_height, o, err);
  if (rc != OM_OK) return rc;

  int cmyk = 0;
  switch (ci->jpeg_color_space) {
  case JCS_GRAYSCALE: ci->out_color_space = JCS_GRAYSCALE; break;
  case JCS_CMYK:
  case JCS_YCCK: ci->out_color_space = JCS_CMYK; cmyk = 1; break;
  default: ci->out_color_space = JCS_RGB; break;
  }
  ci->dct_method = JDCT_ISLOW;
  ci->do_fancy_upsampling = TRUE;
  if (o->jpeg_min_w > 0 || o->jpeg_min_h > 0) {
    /* Largest reduction whose (rounded-up) output still covers the requested minimum. */
    for (unsigned d = 8; d >= 2; d /= 2) {
      unsigned long sw = (ci->image_width + d - 1) / d, sh = (ci->image_height + d - 1) / d;
      if (sw >= (unsigned long)o->jpeg_min_w && sh >= (unsigned long)o->jpeg_min_h) {
        ci->scale_num = 1;
        ci->scale_denom = d;
        break;
      }
    }
  }
  jpeg_start_decompress(ci);
  int ow = (int)ci->output_width, oh = (int)ci->output_height, nc = ci->output_components;
  if (ow <= 0 || oh <= 0 || (nc != 1 && nc != 3 && nc != 4))
    return om_seterr(err, OM_E_UNSUPPORTED, "jpeg: unsupported output %dx%d with %d components",
                     ow, oh, nc);
  rc = om_image_alloc(out, ow, oh, o->channels, err);
  if (rc != OM_OK) return rc;
  /* rows already in the output's layout (RGB to 3 channels, gray to 1) go straight into the image;
   * the others pass through row buffers */
  const int direct = !cmyk && nc == o->channels;
  if (!direct) {
    st->row = malloc((size_t)ow * (size_t)nc);
    st->rgb = malloc((size_t)ow * 3);
    if (!st->row || !st->rgb) return om_seterr(err, OM_E_NOMEM, "jpeg: out of memory for a row");
  }
  while (ci->output_scanline < ci->output_height) {
    size_t y = ci->output_scanline;
    uint8_t *dst = out->px + y * (size_t)ow * (size_t)o->channels;
    JSAMPROW rp = direct ? dst : st->row;
    if (jpeg_read_scanlines(ci, &rp, 1) != 1)
      return om_seterr(err, OM_E_FORMAT, "jpeg: no scanline %zu returned", y);
    if (direct) continue;
    if (cmyk) {
      cmyk_row_to_rgb(st->row, st->rgb, (size_t)ow);
      om_px_convert_row(st->rgb, 3, dst, o->channels, (size_t)ow, o);
    } else {
      om_px_convert_row(st->row, nc, dst, o->channels, (size_t)ow, o);
    }
  }
  /* No jpeg_finish_decompress: all pixels are in; what follows (EOI) does not change them. */
  return OM_OK;
}

int om_decode_jpeg(const uint8_t *buf, size_t len, const om_decode_opts *o, om_image *out,
                   char *err) {
  jpeg_state *st = calloc(1, sizeof *st);
  if (!st) return om_seterr(err, OM_E_NOMEM, "jpeg: out of memory");
  int rc;
  st->ci.err = jpeg_std_error(&st->je.pub);
  st->je.pub.error_exit = on_error;
  st->je.pub.emit_message = on_message;
  st->prog.progress_monitor = on_progress;
  if (setjmp(st->je.jb)) {
    /* Reached by longjmp from inside libjpeg; everything lives in *st, nothing in locals. */
    rc = om_seterr(err, OM_E_FORMAT, "jpeg: %s", st->je.msg);
  } else {
    rc = decode_body(st, buf, len, o, out, err);
  }
  if (st->created) jpeg_destroy_decompress(&st->ci);
  free(st->row);
  free(st->rgb);
  free(st);
  if (rc != OM_OK) om_image_free(out);
  return rc;
}
