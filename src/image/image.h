/* image.h: decoding image files into 8-bit pixels, and preprocessing them into the model's input
 * tensor exactly as the training framework did.
 *
 *   file bytes --om_image_decode--> om_image (8-bit, 1 or 3 channels, EXIF orientation applied
 *                                   if asked) --om_preprocess--> float tensor (C x H x W)
 *
 * Decoders: libjpeg-turbo for JPEG (islow DCT, fancy upsampling: the same pixels as Pillow),
 * libpng for PNG (8/16-bit, palette, gray, alpha, interlaced), our own for Netpbm (P1..P6),
 * stb_image for the rest (BMP, GIF first frame, TGA, PSD, HDR, PIC). Truncated files are errors in
 * every format. The format is sniffed from the bytes, never the file name. */
#ifndef OM_IMAGE_H
#define OM_IMAGE_H

#include "common/om.h"

typedef struct om_image {
  int w, h;
  int c;                         /* 1 (gray) or 3 (RGB), as asked in om_decode_opts.channels */
  uint8_t *px;                   /* h rows of w*c bytes, interleaved, owned (free: om_image_free) */
  int exif_orientation;          /* 1..8 as found in the file (1 when absent), whether applied or not */
  const char *format;            /* "jpeg", "png", "bmp", "gif", ... (static string) */
  int src_w, src_h;              /* size in the file header, before any DCT downscale/rotation */
} om_image;

typedef struct om_decode_opts {
  int channels;                  /* 3: RGB (Pillow convert("RGB")), 1: gray (Pillow convert("L")) */
  uint64_t max_pixels;           /* refuse images whose header says w*h > this (0: 100 megapixels) */
  int apply_exif;                /* rotate/flip per EXIF orientation (JPEG) */
  uint8_t background[3];         /* alpha is composited against this colour (default 0,0,0: Pillow's
                                    convert("RGB") simply drops alpha, which equals black only for
                                    premultiplied data; see README) */
  int composite_alpha;           /* 0: drop alpha like Pillow (default); 1: blend onto background */
  int jpeg_min_w, jpeg_min_h;    /* >0: JPEG may be DCT-downscaled (1/2, 1/4, 1/8) as long as the
                                    result stays at least this big; 0: full-size decode (exact) */
  int force_stb;                 /* 1: use stb_image even for JPEG/PNG (tests, comparisons) */
} om_decode_opts;

void om_decode_opts_default(om_decode_opts *o);

/* Decode from memory / from a file. Errors carry the decoder's reason ("libpng: IDAT: CRC error",
 * "jpeg: premature end of data segment", "not an image: starts with '<!DO'"). */
int om_image_decode(const uint8_t *buf, size_t len, const om_decode_opts *o, om_image *out,
                    char *err);
int om_image_decode_file(const char *path, const om_decode_opts *o, om_image *out, char *err);
void om_image_free(om_image *img);

/* ---- preprocessing ---- */

typedef enum {
  OM_RESIZE_SHORTER_CROP = 0,    /* resize shorter side to `resize`, keep aspect, center-crop out_h x out_w
                                    (torchvision Resize(N) + CenterCrop) */
  OM_RESIZE_STRETCH = 1,         /* resize to exactly out_h x out_w (aspect not kept) */
  OM_RESIZE_NONE = 2             /* center-crop / pad only, no resampling (image must be >= size) */
} om_resize_mode;

typedef enum {
  OM_INTERP_BILINEAR = 0,        /* Pillow BILINEAR with antialias (support scales with reduction) */
  OM_INTERP_NEAREST = 1,
  OM_INTERP_BICUBIC = 2          /* Pillow BICUBIC (a = -0.5) with antialias */
} om_interp;

typedef struct om_preproc {
  int out_w, out_h;              /* model input spatial size */
  int channels;                  /* 1 or 3: the model's input channels */
  int resize_mode;               /* om_resize_mode */
  int resize;                    /* shorter-side target for SHORTER_CROP (e.g. 256); 0: = crop size */
  int interp;                    /* om_interp */
  float scale;                   /* pixel * scale before mean/std (1/255 for ToTensor) */
  float mean[3], std[3];         /* out = (pixel*scale - mean[c]) / std[c] */
  int bgr;                       /* 1: channel order B,G,R (Caffe-era models) */
  int nhwc;                      /* 1: H x W x C layout (TF/Keras exports); default C x H x W */
  const char *preset;            /* name of the preset it came from, for messages */
} om_preproc;

/* Named presets: "torchvision" (256/224, ImageNet mean/std, RGB, 0-1), "inception" (342/299),
 * "caffe" (BGR, 0-255 minus mean), "fashion-mnist" (28x28 gray, 0-1, the shipped model),
 * "none"/"raw" (stretch to size, 0-1). Returns OM_E_INVALID for an unknown name. */
int om_preproc_preset(const char *name, om_preproc *pp, char *err);
/* Apply a "key=value,key=value" spec on top of *pp (used for the model's metadata_props
 * "ompredict.preprocess" and the --preprocess flag). Keys: preset=NAME (applied first), size=N or WxH,
 * resize=N, mode=crop|stretch|none, interp=bilinear|nearest|bicubic, scale=F, mean=A/B/C (or one value),
 * std=A/B/C, order=rgb|bgr, channels=1|3, layout=nchw|nhwc. Unknown keys and bad values are errors. */
int om_preproc_parse(const char *spec, om_preproc *pp, char *err);
/* The spec that reproduces *pp (for --verbose and the summary); returns buf. */
char *om_preproc_format(const om_preproc *pp, char *buf, size_t n);
/* The side both decoded image sides must keep for the resampler to see what it would see in the
 * full-size image's place (a JPEG may be DCT-downscaled down to it: om_decode_opts.jpeg_min_w/h):
 * the shorter-side target for crop mode, the larger output side for stretch, 0 (no downscaling)
 * for mode none, which crops the image as decoded. */
int om_preproc_decode_min_side(const om_preproc *pp);
/* Names of all presets, NULL-terminated. */
const char *const *om_preproc_preset_names(void);

/* Run decode-output -> tensor. `out` has channels*out_h*out_w floats. Scratch is reused between
 * calls (grown when a bigger image arrives); free it with om_preproc_scratch_free. */
typedef struct om_preproc_scratch { void *buf; size_t cap; } om_preproc_scratch;
int om_preprocess(const om_image *img, const om_preproc *pp, float *out, om_preproc_scratch *s,
                  char *err);
void om_preproc_scratch_free(om_preproc_scratch *s);

#endif
