#include "form_util.h"

#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

namespace mabert::ui {

QSpinBox* make_spin(int lo, int hi, std::optional<int> value, const QString& tip) {
  auto* s = new QSpinBox;
  s->setRange(lo, hi);
  if (value) s->setValue(*value);
  if (!tip.isEmpty()) s->setToolTip(tip);
  return s;
}

QLineEdit* path_row(QFormLayout* form, const QString& label, const QString& tip, bool folder, QWidget* parent) {
  auto* edit = new QLineEdit;
  edit->setToolTip(tip);
  auto* browse = new QPushButton("…");
  browse->setMaximumWidth(32);
  auto* row = new QHBoxLayout;
  row->addWidget(edit, 1);
  row->addWidget(browse);
  form->addRow(label, row);
  QObject::connect(browse, &QPushButton::clicked, parent, [edit, folder, parent] {
    const QString p = folder ? QFileDialog::getExistingDirectory(parent, "Choose a folder", edit->text())
                             : QFileDialog::getOpenFileName(parent, "Choose a file", edit->text());
    if (!p.isEmpty()) edit->setText(p);
  });
  return edit;
}

QLabel* wrapped_label(const QString& text) {
  auto* label = new QLabel(text);
  label->setWordWrap(true);
  return label;
}

QVBoxLayout* column_with_help(QWidget* owner, const QString& help) {
  auto* v = new QVBoxLayout(owner);
  v->addWidget(wrapped_label(help));
  return v;
}

}  // namespace mabert::ui
