// The DSL, Kafka Streams' in C++: KStream, KGroupedStream, TimeWindowedKStream,
// SessionWindowedKStream, KTable and KGroupedTable, with the options they take (options.h,
// windows.h) and the records they carry (record.h). Include this (streams/streams_builder.h does)
// rather than one type's header: the types return one another, and the members that close those
// cycles are defined in streams/internal/dsl_impl.h, included last here.
//
// How the headers depend on each other (none includes one below it; every class template's
// header includes the headers its inline member bodies need):
//   internal/dsl_forward.h     declares the six types (for the signatures that name another)
//   kstream.h                  KStream
//   ktable.h                   KTable: ToStream makes a KStream
//   kgrouped_stream.h          KGroupedStream: holds a KStream, its aggregations make KTables
//   time_windowed_kstream.h    TimeWindowedKStream: holds a KGroupedStream, makes KTables
//   session_windowed_kstream.h SessionWindowedKStream: holds a KGroupedStream, makes KTables
//   kgrouped_table.h           KGroupedTable: its aggregations make KTables
//   internal/dsl_impl.h        KStream::GroupByKey/GroupBy, KGroupedStream::WindowedBy,
//                              KTable::GroupBy, which return a type from further down
//   internal/dsl_join_impl.h   KStream's joins (with a KStream or a KTable)
//   internal/dsl_table_join_impl.h KTable's joins with a KTable
//   internal/dsl_process_impl.h KStream::Process (the Processor API, streams/processor.h)
#pragma once

#include "streams/global_ktable.h"
#include "streams/join_windows.h"
#include "streams/kgrouped_stream.h"
#include "streams/kgrouped_table.h"
#include "streams/kstream.h"
#include "streams/ktable.h"
#include "streams/options.h"
#include "streams/record.h"
#include "streams/session_windowed_kstream.h"
#include "streams/time_windowed_kstream.h"
#include "streams/windows.h"

// Last: the members that close the cycles between the headers above.
#include "streams/internal/dsl_impl.h"
#include "streams/internal/dsl_join_impl.h"
#include "streams/internal/dsl_process_impl.h"
#include "streams/internal/dsl_table_join_impl.h"
