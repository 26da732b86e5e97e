/* G.711 mu-law (PCMU) and A-law (PCMA), per ITU-T G.711. */
#ifndef VOXGATE_CORE_G711_H
#define VOXGATE_CORE_G711_H

#include <stddef.h>
#include <stdint.h>

uint8_t g711_ulaw_from_linear(int16_t sample);
int16_t g711_ulaw_to_linear(uint8_t code);
uint8_t g711_alaw_from_linear(int16_t sample);
int16_t g711_alaw_to_linear(uint8_t code);

void g711_ulaw_encode(uint8_t *dst, const int16_t *src, size_t n);
void g711_ulaw_decode(int16_t *dst, const uint8_t *src, size_t n);
void g711_alaw_encode(uint8_t *dst, const int16_t *src, size_t n);
void g711_alaw_decode(int16_t *dst, const uint8_t *src, size_t n);

#endif
