// The syntax tree of a parsed template: expressions and statements, each
// with the template position that runtime errors name.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/jinja/lexer.h"
#include "data/jinja/value.h"

namespace horizon::data::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  kLiteral,  // value
  kName,     // name
  kList,     // operands
  kTuple,    // operands
  kDict,     // operands: key, value, key, value, ...
  kGetAttr,  // operands[0].name
  kGetItem,  // operands[0][operands[1]]
  kSlice,    // operands[0][operands[1]:operands[2]:operands[3]], null parts omitted
  kCall,     // operands[0](operands[1..], keywords)
  kFilter,   // operands[0] | name(operands[1..], keywords)
  kTest,     // operands[0] is [not] name(operands[1..], keywords)
  kNot,      // not operands[0]
  kNegate,   // -operands[0]
  kPlus,     // +operands[0]
  kBinary,   // operands[0] name operands[1]: + - * / // % **
  kConcat,   // operands joined with ~
  kCompare,  // operands[0] ops[0] operands[1] ops[1] operands[2] ...
  kAnd,
  kOr,
  kCondition,  // operands[1] if operands[0] else operands[2] (null: undefined)
};

struct Expr {
  ExprKind kind;
  Location where;
  Value value;
  std::string name;
  std::vector<ExprPtr> operands;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
  std::vector<std::string> compare_ops;  // "==", "!=", "<", "<=", ">", ">=", "in", "notin"
  bool negated = false;                  // `is not`
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class StmtKind {
  kText,      // text
  kPrint,     // {{ expr }}
  kIf,        // conditions[i] -> bodies[i]; else_body
  kFor,       // for target in expr [if filter] body [else else_body]
  kSet,       // set target = expr
  kSetBlock,  // set target [| filters on a placeholder] body endset
  kMacro,     // macro name(params) body
  kBreak,
  kContinue,
  kWith,         // with targets = values: body
  kFilterBlock,  // filter name(args) | ... body endfilter: prints the filtered body
  kGeneration,   // transformers' {% generation %} body {% endgeneration %}: renders body
};

/// Where a set/for stores: one name, a tuple of names, or namespace.attribute.
struct Target {
  std::vector<std::string> names;
  bool unpack = false;
  std::string attribute;  // set ns.attribute = ...
};

struct Stmt {
  StmtKind kind;
  Location where;
  std::string text;
  ExprPtr expr;
  ExprPtr filter;  // for ... if filter; set-block filters applied to a kName placeholder
  Target target;
  std::vector<ExprPtr> conditions;
  std::vector<Body> bodies;
  Body body, else_body;
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters (default may be null); with bindings
  bool takes_varargs = false, takes_kwargs = false;     // a macro body that names `varargs` / `kwargs`
};

struct Template {
  Body body;
};

}  // namespace horizon::data::jinja
