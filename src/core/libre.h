/*
 * libre for files that also use jansson.
 *
 * re.h pulls in all of libre, re_json.h with it, whose enum json_typ
 * declares JSON_STRING and JSON_NULL, the names of jansson's json_type
 * values: the two cannot share a translation unit. A file that needs both
 * includes this header, which is libre without re_json.h, instead of
 * re.h; files without jansson include re.h. Headers that others include
 * stay free of both where they can.
 */
#ifndef VOXGATE_CORE_LIBRE_H
#define VOXGATE_CORE_LIBRE_H

#include <re_types.h>
#include <re_fmt.h>
#include <re_mem.h>
#include <re_mbuf.h>
#include <re_list.h>
#include <re_hash.h>
#include <re_sa.h>
#include <re_sys.h>
#include <re_tmr.h>
#include <re_msg.h>
#include <re_http.h>
#include <re_websock.h>

#endif
