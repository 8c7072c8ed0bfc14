// Small builders for the studio's forms, so each panel states what its fields are, not how a
// field is put together: a spin box with its range, a path row with a browse button, a column
// headed by a wrapped help text.
#pragma once

#include <QString>

#include <optional>

class QFormLayout;
class QLabel;
class QLineEdit;
class QSpinBox;
class QVBoxLayout;
class QWidget;

namespace mabert::ui {

// A spin box over [lo, hi] (at `value` when given, else at lo) with a tool tip when given.
QSpinBox* make_spin(int lo, int hi, std::optional<int> value = std::nullopt, const QString& tip = {});
// A line edit for a path with a "…" button that opens a file (or folder) dialog, added to `form`.
QLineEdit* path_row(QFormLayout* form, const QString& label, const QString& tip, bool folder, QWidget* parent);
// A word-wrapped label (rich text where `text` is).
QLabel* wrapped_label(const QString& text);
// The owner's vertical layout, starting with `help` as a word-wrapped label.
QVBoxLayout* column_with_help(QWidget* owner, const QString& help);

}  // namespace mabert::ui
